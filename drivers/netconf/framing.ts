/**
 * RFC 6242 message framing: end-of-message (`]]>]]>`, base:1.0) and chunked
 * (base:1.1). Decoders take bytes as they arrive and return whole messages;
 * they enforce size limits before buffering, so a hostile peer cannot make us
 * hold more than the limit.
 */
import { ProtocolError } from '../errors.js';

export const EOM = ']]>]]>';
const EOM_BYTES = Buffer.from(EOM);

/** Size limits of one decoder. */
export interface FramingLimits {
  /** Largest whole message accepted, in bytes. @default 67108864 (64 MiB) */
  maxMessageBytes: number;
  /** Largest single chunk accepted in base:1.1 framing, in bytes. @default 16777216 (16 MiB) */
  maxChunkBytes: number;
}

export const DEFAULT_FRAMING_LIMITS: FramingLimits = {
  maxMessageBytes: 64 * 1024 * 1024,
  maxChunkBytes: 16 * 1024 * 1024,
};

export interface Decoder {
  /** Feed bytes; returns the messages completed by them (possibly none). Throws ProtocolError. */
  push(data: Buffer): string[];
  /** True when part of a message has been received but not its end. */
  hasPartial(): boolean;
}

/** base:1.0 decoder: messages end with `]]>]]>`. */
export class EomDecoder implements Decoder {
  private parts: Buffer[] = [];
  private size = 0;
  constructor(private readonly limits: FramingLimits = DEFAULT_FRAMING_LIMITS) {}

  push(data: Buffer): string[] {
    const out: string[] = [];
    let chunk = data;
    while (chunk.length > 0) {
      // The delimiter may start in buffered bytes and end in this chunk.
      if (this.size > 0) {
        const tail = this.tail();
        const probe = Buffer.concat([tail, chunk.subarray(0, EOM_BYTES.length - 1)]);
        const j = probe.indexOf(EOM_BYTES);
        if (j >= 0 && j < tail.length) {
          const all = Buffer.concat(this.parts, this.size);
          out.push(all.subarray(0, this.size - (tail.length - j)).toString('utf8'));
          this.parts = [];
          this.size = 0;
          chunk = chunk.subarray(j + EOM_BYTES.length - tail.length);
          continue;
        }
      }
      const idx = chunk.indexOf(EOM_BYTES);
      if (idx < 0) {
        this.append(chunk);
        break;
      }
      this.checkSize(this.size + idx);
      const message = this.size ? Buffer.concat([...this.parts, chunk.subarray(0, idx)], this.size + idx) : chunk.subarray(0, idx);
      out.push(message.toString('utf8'));
      this.parts = [];
      this.size = 0;
      chunk = chunk.subarray(idx + EOM_BYTES.length);
    }
    return out;
  }

  /** Up to the last 5 buffered bytes. */
  private tail(): Buffer {
    const want = Math.min(this.size, EOM_BYTES.length - 1);
    const last = this.parts[this.parts.length - 1]!;
    if (last.length >= want) return last.subarray(last.length - want);
    return Buffer.concat(this.parts, this.size).subarray(this.size - want);
  }

  /** Bytes buffered after the last whole message (used when framing switches after hello). */
  takeRemainder(): Buffer {
    const rest = Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    return rest;
  }

  hasPartial(): boolean {
    return this.size > 0 && !isWhitespace(Buffer.concat(this.parts, this.size));
  }

  private append(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.checkSize(this.size + chunk.length);
    this.parts.push(chunk);
    this.size += chunk.length;
  }

  private checkSize(n: number): void {
    if (n > this.limits.maxMessageBytes) {
      throw new ProtocolError(
        'QB_NETCONF_MESSAGE_TOO_LARGE',
        `NETCONF message exceeds maxMessageBytes (${this.limits.maxMessageBytes} bytes) without an end-of-message marker; raise maxMessageBytes if the device really sends replies this large`,
      );
    }
  }
}

function isWhitespace(b: Buffer): boolean {
  for (const c of b) if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return false;
  return true;
}

const LF = 0x0a;
const HASH = 0x23;

/** base:1.1 decoder: `\n#<size>\n<data>` chunks ended by `\n##\n`. */
export class ChunkedDecoder implements Decoder {
  private state: 'lf' | 'hash' | 'size-or-end' | 'size' | 'data' | 'end-lf' = 'lf';
  private sizeDigits = '';
  private remaining = 0;
  private parts: Buffer[] = [];
  private size = 0;
  private started = false;
  constructor(private readonly limits: FramingLimits = DEFAULT_FRAMING_LIMITS) {}

  hasPartial(): boolean {
    return this.started;
  }

  push(data: Buffer): string[] {
    const out: string[] = [];
    let i = 0;
    while (i < data.length) {
      switch (this.state) {
        case 'lf':
          if (data[i] !== LF) this.fail(`expected LF at the start of a chunk header, got ${describe(data[i]!)}`);
          this.started = true;
          this.state = 'hash';
          i++;
          break;
        case 'hash':
          if (data[i] !== HASH) this.fail(`expected '#' in a chunk header, got ${describe(data[i]!)}`);
          this.state = 'size-or-end';
          i++;
          break;
        case 'size-or-end': {
          const c = data[i]!;
          if (c === HASH) {
            this.state = 'end-lf';
            i++;
          } else if (c >= 0x31 && c <= 0x39) {
            this.sizeDigits = String.fromCharCode(c);
            this.state = 'size';
            i++;
          } else {
            this.fail(`expected a chunk size (1-9 first) or '#', got ${describe(c)}`);
          }
          break;
        }
        case 'size': {
          const c = data[i]!;
          if (c >= 0x30 && c <= 0x39) {
            this.sizeDigits += String.fromCharCode(c);
            if (this.sizeDigits.length > 10) this.fail('chunk size has more than 10 digits');
            i++;
          } else if (c === LF) {
            const n = Number(this.sizeDigits);
            if (n > 4294967295) this.fail(`chunk size ${n} exceeds 4294967295`);
            if (n > this.limits.maxChunkBytes) {
              throw new ProtocolError(
                'QB_NETCONF_CHUNK_TOO_LARGE',
                `NETCONF chunk of ${n} bytes exceeds maxChunkBytes (${this.limits.maxChunkBytes}); raise maxChunkBytes if the device really sends chunks this large`,
              );
            }
            if (this.size + n > this.limits.maxMessageBytes) {
              throw new ProtocolError(
                'QB_NETCONF_MESSAGE_TOO_LARGE',
                `NETCONF message exceeds maxMessageBytes (${this.limits.maxMessageBytes} bytes); raise maxMessageBytes if the device really sends replies this large`,
              );
            }
            this.remaining = n;
            this.state = 'data';
            i++;
          } else {
            this.fail(`expected a digit or LF in a chunk size, got ${describe(c)}`);
          }
          break;
        }
        case 'data': {
          const take = Math.min(this.remaining, data.length - i);
          this.parts.push(data.subarray(i, i + take));
          this.size += take;
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) this.state = 'lf';
          break;
        }
        case 'end-lf':
          if (data[i] !== LF) this.fail(`expected LF after '##', got ${describe(data[i]!)}`);
          i++;
          if (this.size === 0) this.fail('end-of-chunks marker before any chunk');
          out.push(Buffer.concat(this.parts, this.size).toString('utf8'));
          this.parts = [];
          this.size = 0;
          this.started = false;
          this.state = 'lf';
          break;
      }
    }
    return out;
  }

  private fail(what: string): never {
    throw new ProtocolError('QB_NETCONF_BAD_FRAMING', `malformed NETCONF chunked framing: ${what}`);
  }
}

function describe(c: number): string {
  return c >= 0x20 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `byte 0x${c.toString(16).padStart(2, '0')}`;
}

/** Frame one message for base:1.0. */
export function encodeEom(message: string): Buffer {
  return Buffer.from(message + EOM, 'utf8');
}

/** Frame one message for base:1.1 as a single chunk. */
export function encodeChunked(message: string): Buffer {
  const body = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from(`\n#${body.length}\n`), body, Buffer.from('\n##\n')]);
}
