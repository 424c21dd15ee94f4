/** `<rpc-error>` elements (RFC 6241 section 4.3) into typed records. */
import type { RpcErrorInfo } from '../errors.js';
import { parseXml } from './xml.js';

function text(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v.trim();
  if (typeof v === 'object' && '_' in (v as object)) return String((v as { _: unknown })._).trim();
  if (typeof v === 'object') return '';
  return String(v);
}

/** All `<rpc-error>` elements of an `<rpc-reply>`, in order. */
export async function parseRpcErrors(replyXml: string): Promise<RpcErrorInfo[]> {
  const doc = await parseXml(replyXml);
  const reply = doc['rpc-reply'] ?? {};
  const raw = reply['rpc-error'];
  const list: any[] = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  return list.map((e) => {
    const info: Record<string, string> = {};
    const ei = e['error-info'];
    if (ei && typeof ei === 'object') {
      for (const [k, v] of Object.entries(ei)) {
        if (k === '$') continue;
        info[k] = Array.isArray(v) ? v.map((x) => text(x)).join(',') : (text(v) ?? '');
      }
    }
    return {
      type: text(e['error-type']) ?? '',
      tag: text(e['error-tag']) ?? '',
      severity: text(e['error-severity']) ?? 'error',
      appTag: text(e['error-app-tag']),
      path: text(e['error-path']),
      message: text(e['error-message']),
      info,
    };
  });
}
