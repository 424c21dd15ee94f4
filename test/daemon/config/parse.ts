/** What the config tests share: a provider's document, a document parsed as a config file's text, and the ConfigError a bad one gets. */
import { stringify } from 'yaml';
import { ConfigError, parseConfigText } from '../../../daemon/config/load.js';

/** Parse a config document (an object written as YAML, or the YAML text) with relative paths resolved under `dir`. */
export const parseDoc = (doc: unknown, dir = '/tmp') => parseConfigText(typeof doc === 'string' ? doc : stringify(doc), dir);

/** The ConfigError that `parse` throws; fails the test when it accepts or throws something else. */
export function configErrorOf(parse: () => unknown): ConfigError {
  try {
    parse();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError, the config was accepted');
}

/** A small valid provider config document, with `sections` added (e.g. `{ agreement: {...} }`). */
export const providerDoc = (sections: Record<string, unknown> = {}): Record<string, unknown> => ({
  role: 'provider',
  'domain-id': 'dom-a',
  listen: '127.0.0.1:50061',
  keys: { 'advert-key': 'a.key', 'tls-cert': 'a.pem', 'tls-key': 'a-tls.key' },
  inventory: {
    borders: ['a1', 'a2'],
    transits: [{ id: 'a1-a2', from: 'a1', to: 'a2', classes: { EF: { 'capacity-mbps': 100, 'latency-ms': 2 } } }],
    prices: { currency: 'EUR', 'per-mbps-hour': { EF: 0.5 } },
  },
  ...sections,
});
