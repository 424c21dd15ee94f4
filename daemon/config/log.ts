/**
 * Structured logs: one JSON object per line (time, level, msg, component,
 * fields). Secrets are never passed in; as a second guard, fields whose name
 * looks like a secret are replaced by "***".
 */
import type { Logger, LogLevel } from '../logger.js';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_RE = /(^|_)(password|secret|private_?key|token|key_pem|tls_key)$/i;

/** A Logger that writes JSON lines. */
export interface JsonLogger extends Logger {
  child(component: string): JsonLogger;
  setLevel(level: LogLevel): void;
}

export function createLogger(opts: { level?: LogLevel; write?: (line: string) => void; component?: string; base?: Record<string, unknown> } = {}): JsonLogger {
  const state = { level: opts.level ?? 'info' };
  const write = opts.write ?? ((line: string) => process.stdout.write(line));
  const make = (component: string | undefined): JsonLogger => {
    const log = ((level: LogLevel, msg: string, fields: Record<string, unknown> = {}) => {
      if (ORDER[level] < ORDER[state.level]) return;
      const clean: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(fields)) clean[k] = SECRET_RE.test(k) ? '***' : v instanceof Error ? v.message : v;
      write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...(component ? { component } : {}), ...opts.base, ...clean })}\n`);
    }) as JsonLogger;
    log.child = (c: string) => make(c);
    log.setLevel = (l: LogLevel) => {
      state.level = l;
    };
    return log;
  };
  return make(opts.component);
}
