/**
 * What a part of the daemon logs through: a function of level, message and
 * fields. The daemon passes a JSON-lines logger (daemon/config/log.ts); tests
 * pass their own.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Log one event; `fields` are structured (never secrets). */
export type Logger = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;
