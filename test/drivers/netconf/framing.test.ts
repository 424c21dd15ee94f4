import { describe, expect, test } from 'vitest';
import { ChunkedDecoder, EomDecoder, encodeChunked, encodeEom } from '../../../drivers/netconf/framing.js';
import { ProtocolError } from '../../../drivers/errors.js';

const msgs = ['<rpc-reply message-id="1"><ok/></rpc-reply>', '<x>ünïcødé ]]> ]]</x>', '<a/>'];

function feedSplit(dec: { push(b: Buffer): string[] }, bytes: Buffer, cut: number[]): string[] {
  const out: string[] = [];
  let prev = 0;
  for (const c of [...cut, bytes.length]) {
    out.push(...dec.push(bytes.subarray(prev, c)));
    prev = c;
  }
  return out;
}

describe('framing - end-of-message (base:1.0)', () => {
  const wire = Buffer.concat(msgs.map(encodeEom));
  test('framing - every single split point yields the same messages', () => {
    for (let i = 0; i <= wire.length; i++) {
      expect(feedSplit(new EomDecoder(), wire, [i])).toEqual(msgs);
    }
  });
  test('framing - byte by byte', () => {
    const d = new EomDecoder();
    const out: string[] = [];
    for (const b of wire) out.push(...d.push(Buffer.from([b])));
    expect(out).toEqual(msgs);
    expect(d.hasPartial()).toBe(false);
  });
  test('framing - partial message is reported', () => {
    const d = new EomDecoder();
    expect(d.push(Buffer.from('<rpc-reply'))).toEqual([]);
    expect(d.hasPartial()).toBe(true);
  });
  test('framing - a message over maxMessageBytes is refused with a typed error', () => {
    const d = new EomDecoder({ maxMessageBytes: 100, maxChunkBytes: 100 });
    expect(() => d.push(Buffer.alloc(101, 'a'))).toThrow(ProtocolError);
    expect(() => new EomDecoder({ maxMessageBytes: 100, maxChunkBytes: 100 }).push(Buffer.alloc(150, 'a'))).toThrow(
      expect.objectContaining({ code: 'QB_NETCONF_MESSAGE_TOO_LARGE' }),
    );
  });
});

describe('framing - chunked (base:1.1)', () => {
  const wire = Buffer.concat(msgs.map(encodeChunked));
  test('framing - every split point yields the same messages', () => {
    for (let i = 0; i <= wire.length; i++) {
      expect(feedSplit(new ChunkedDecoder(), wire, [i])).toEqual(msgs);
    }
  });
  test('framing - several chunks make one message', () => {
    const d = new ChunkedDecoder();
    expect(d.push(Buffer.from('\n#4\n<rpc\n#17\n message-id="1"/>\n##\n'))).toEqual(['<rpc message-id="1"/>']);
  });
  test('framing - multi-byte characters split across chunks survive', () => {
    const body = Buffer.from('<a>é</a>');
    const d = new ChunkedDecoder();
    const out = d.push(Buffer.concat([Buffer.from('\n#4\n'), body.subarray(0, 4), Buffer.from(`\n#${body.length - 4}\n`), body.subarray(4), Buffer.from('\n##\n')]));
    expect(out).toEqual(['<a>é</a>']);
  });
  const bad: Array<[string, string]> = [
    ['missing LF', '#3\nabc\n##\n'],
    ['missing hash', '\n3\nabc\n##\n'],
    ['zero size', '\n#0\n\n##\n'],
    ['leading zero', '\n#03\nabc\n##\n'],
    ['letters in size', '\n#3a\nabc\n##\n'],
    ['size too long', '\n#99999999999\n'],
    ['end before any chunk', '\n##\n'],
    ['garbage after end', '\n#1\na\n##x'],
  ];
  for (const [name, text] of bad) {
    test(`framing - malformed header refused: ${name}`, () => {
      try {
        new ChunkedDecoder().push(Buffer.from(text));
        expect.unreachable('should have thrown');
      } catch (e) {
        expect(e).toBeInstanceOf(ProtocolError);
        expect((e as ProtocolError).code).toBe('QB_NETCONF_BAD_FRAMING');
      }
    });
  }
  test('framing - a chunk over maxChunkBytes is refused before its data is buffered', () => {
    const d = new ChunkedDecoder({ maxMessageBytes: 1 << 30, maxChunkBytes: 1024 });
    expect(() => d.push(Buffer.from('\n#1025\n'))).toThrow(/maxChunkBytes/);
  });
  test('framing - chunks adding up over maxMessageBytes are refused', () => {
    const d = new ChunkedDecoder({ maxMessageBytes: 10, maxChunkBytes: 8 });
    d.push(Buffer.from('\n#8\n12345678'));
    expect(() => d.push(Buffer.from('\n#8\n'))).toThrow(/maxMessageBytes/);
  });
});
