/** What the config tests share: a document parsed as a config file's text, and the ConfigError a bad one gets. */
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
