import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, test } from 'vitest';
import { QosBrokerError } from '../../drivers/errors.js';
import { ERRORS, errorFromWire, exitCodeOf, grpcStatusOf, httpStatusOf, isErrorCode, SegmentRejectedError, type ErrorCode } from '../../daemon/errors.js';

const ROOT = join(import.meta.dirname, '..', '..');

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((d) => d.isFile() && d.name.endsWith('.ts'))
    .map((d) => relative(ROOT, join(d.parentPath, d.name)));
}
const FILES = ['daemon', 'drivers', 'lab'].flatMap(sources).map((f) => ({ file: f, text: readFileSync(join(ROOT, f), 'utf8') }));
const CODES = Object.keys(ERRORS) as ErrorCode[];

describe('errors - the table of codes', () => {
  test('errors - every QB_ code written in daemon/, drivers/ and lab/ is a row of the table', () => {
    const missing: string[] = [];
    for (const { file, text } of FILES) {
      for (const m of text.matchAll(/\bQB_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_])/g)) if (!isErrorCode(m[0])) missing.push(`${file}: ${m[0]}`);
    }
    expect(missing).toEqual([]);
  });

  test('errors - a code thrown with a class is a code of that class in the table', () => {
    const wrong: string[] = [];
    for (const { file, text } of FILES) {
      for (const m of text.matchAll(/new (\w+)\(\s*'(QB_[A-Z0-9_]+)'/g)) {
        const [, cls, code] = m as unknown as [string, string, string];
        if (!isErrorCode(code) || ERRORS[code].cls !== cls) wrong.push(`${file}: new ${cls}('${code}') but the table says ${isErrorCode(code) ? ERRORS[code].cls : 'nothing'}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  test('errors - nothing constructs the root class: each failure has its own class', () => {
    const bare = FILES.filter(({ text }) => /new QosBrokerError\(/.test(text)).map((f) => f.file);
    expect(bare).toEqual([]);
  });

  test.each(CODES)('errors - %s maps to a gRPC status, an HTTP status, an exit code and says what to do', (code) => {
    const row = ERRORS[code];
    expect(grpc.status[row.grpc], row.grpc).toBeTypeOf('number');
    expect(Number.isInteger(row.http) && row.http >= 400 && row.http <= 599).toBe(true);
    expect(Number.isInteger(row.exit) && row.exit >= 1 && row.exit <= 125).toBe(true);
    expect(row.fix.length).toBeGreaterThan(10);
  });

  test.each(CODES)('errors - %s received from the wire is the class the table names, and maps back the same', (code) => {
    const e = errorFromWire(code, `remote says ${code}`, { domain: 'dom-b', fallback: 'QB_AGREEMENT_REMOTE_ERROR' });
    expect(e).toBeInstanceOf(QosBrokerError);
    expect(e).toBeInstanceOf(Error);
    expect(e.constructor.name).toBe(ERRORS[code].cls);
    expect(e.name).toBe(ERRORS[code].cls);
    expect(e.code).toBe(code);
    expect(e.message).toBe(`remote says ${code}`);
    expect(e.stack).toContain(`remote says ${code}`);
    expect(grpcStatusOf(e)).toBe(ERRORS[code].grpc);
    expect(httpStatusOf(e)).toBe(ERRORS[code].http);
    expect(exitCodeOf(e)).toBe(ERRORS[code].exit);
  });

  test('errors - a refused segment from the wire keeps the refusing domain; an unknown code becomes the fallback and keeps the code in its message', () => {
    const s = errorFromWire('QB_AGREEMENT_SEGMENT_REJECTED', 'no room', { domain: 'dom-c', fallback: 'QB_AGREEMENT_REMOTE_ERROR' });
    expect(s).toBeInstanceOf(SegmentRejectedError);
    expect((s as SegmentRejectedError).domain).toBe('dom-c');
    const u = errorFromWire('QB_FROM_A_NEWER_PEER', 'something new', { fallback: 'QB_AGREEMENT_REMOTE_ERROR' });
    expect(u.code).toBe('QB_AGREEMENT_REMOTE_ERROR');
    expect(u.message).toBe('QB_FROM_A_NEWER_PEER: something new');
  });

  test('errors - what is not a QosBrokerError is an internal error at every edge', () => {
    expect(grpcStatusOf(new Error('x'))).toBe('INTERNAL');
    expect(httpStatusOf('x')).toBe(500);
    expect(exitCodeOf(undefined)).toBe(1);
  });
});
