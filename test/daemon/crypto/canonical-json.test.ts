import { expect, test } from 'vitest';
import { canonicalJson } from '../../../daemon/crypto/canonical-json.js';

// vectors from RFC 8785: section 3.2.2.3 / appendix B (numbers), 3.2.3 (key order), 3.2.4 (the whole example)
test('canonical json - numbers are written as RFC 8785 (ECMAScript Number.prototype.toString) writes them', () => {
  const cases: Array<[number, string]> = [
    [0, '0'],
    [-0, '0'],
    [1e21, '1e+21'],
    [1e-7, '1e-7'],
    [333333333.33333329, '333333333.3333333'],
    [1e30, '1e+30'],
    [4.5, '4.5'],
    [0.002, '0.002'],
    [0.000000000000000000000000001, '1e-27'],
    [9007199254740992, '9007199254740992'],
    [-1.7976931348623157e308, '-1.7976931348623157e+308'],
    [5e-324, '5e-324'],
    [295147905179352830000, '295147905179352830000'],
    [999999999999999700000, '999999999999999700000'],
  ];
  for (const [n, want] of cases) expect(canonicalJson(n), String(n)).toBe(want);
  expect(() => canonicalJson(Number.NaN)).toThrow(/NaN/);
  expect(() => canonicalJson({ a: Infinity })).toThrow(/\$\.a is Infinity/);
});

test('canonical json - keys are sorted by UTF-16 code units, recursively (RFC 8785 section 3.2.3)', () => {
  const input = { '\u20ac': 'Euro Sign', '\r': 'Carriage Return', '\ufb33': 'Hebrew Letter Dalet With Dagesh', '1': 'One', '\ud83d\ude00': 'Emoji: Grinning Face', '\u0080': 'Control', '\u00f6': 'Latin Small Letter O With Diaeresis' };
  // read the order from the text: JSON.parse would put integer-like keys first
  const text = canonicalJson(input);
  const keys = [...text.matchAll(/"((?:[^"\\]|\\.)*)":/g)].map((m) => JSON.parse(`"${m[1]}"`) as string);
  expect(keys).toEqual(['\r', '1', '\u0080', '\u00f6', '\u20ac', '\ud83d\ude00', '\ufb33']);
});

test('canonical json - the RFC 8785 section 3.2.2 example serializes byte for byte', () => {
  const input = JSON.parse('{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001], "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}');
  expect(canonicalJson(input)).toBe('{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}');
});

test('canonical json - what RFC 8785 input (I-JSON) cannot hold is refused: lone surrogates, undefined, holes, class instances', () => {
  expect(() => canonicalJson('a\ud800b')).toThrow(/lone UTF-16 surrogate/);
  expect(() => canonicalJson({ ['\udc00']: 1 })).toThrow(/lone UTF-16 surrogate/);
  expect(canonicalJson('\ud83d\ude00')).toBe('"\ud83d\ude00"');
  expect(() => canonicalJson({ a: undefined })).toThrow(/undefined/);
  expect(() => canonicalJson([1, , 3])).toThrow(/hole/);
  expect(() => canonicalJson({ d: new Date(0) })).toThrow(/Date/);
});
