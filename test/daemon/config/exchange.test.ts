/** The `exchange` config section: who may use an exchange and whom it may contact, by the domain ids of its pinned peers. */
import { describe, expect, test } from 'vitest';
import { diffConfig } from '../../../daemon/config/load.js';
import { configErrorOf, parseDoc } from './parse.js';

const exchange = (section?: unknown, peers = ['dom-a', 'dom-b']): Record<string, unknown> => ({
  role: 'exchange',
  'domain-id': 'exchange-x',
  listen: '127.0.0.4:50064',
  keys: { 'advert-key': 'x.key', 'tls-cert': 'x.pem', 'tls-key': 'x-tls.key' },
  peers: peers.map((d) => ({ 'domain-id': d, 'ca-file': 'ca.pem' })),
  ...(section === undefined ? {} : { exchange: section }),
});
const parse = (doc: Record<string, unknown>) => parseDoc(doc);
const error = (doc: Record<string, unknown>) => configErrorOf(() => parse(doc));

describe('config exchange', () => {
  test('config - an exchange brokers for nobody and contacts nobody unless told', () => {
    expect(parse(exchange()).exchange).toEqual({ allowProviders: [], mayContact: [] });
    expect(parse(exchange({ 'allow-providers': ['dom-a'], 'may-contact': ['dom-a', 'dom-b'] })).exchange).toEqual({ allowProviders: ['dom-a'], mayContact: ['dom-a', 'dom-b'] });
  });

  test('config - a domain that is not a pinned peer, an unknown key, or the section on a provider is refused naming the key', () => {
    const e = error(exchange({ 'may-contact': ['dom-a', 'dom-z'] }));
    expect(e.key).toBe('exchange.may-contact[1]');
    expect(e.message).toMatch(/"dom-z".*under peers.*mTLS identity|under peers.*"dom-z"/);
    expect(error(exchange({ 'allow-providers': 'dom-a' })).key).toBe('exchange.allow-providers');
    expect(error(exchange({ allow: ['dom-a'] })).key).toBe('exchange.allow');
    const provider = { ...exchange({ 'allow-providers': [] }), role: 'provider', inventory: { borders: ['a1'], prices: { currency: 'EUR', 'per-mbps-hour': { EF: 1 } } } };
    expect(error(provider).key).toBe('exchange');
  });

  test('config - a changed exchange section applies on reload, without a restart', () => {
    const d = diffConfig(parse(exchange({ 'allow-providers': ['dom-a'] })), parse(exchange({ 'allow-providers': ['dom-a', 'dom-b'] })));
    expect(d.needsRestart).toEqual([]);
  });
});
