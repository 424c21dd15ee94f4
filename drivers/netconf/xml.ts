/**
 * The little XML the NETCONF layer needs on its hot path (root element,
 * message-id, `<ok/>`, `<data>` extraction) done with anchored regular
 * expressions; full parsing (xml2js) only where a reply carries structure
 * we must read (rpc-error, hello, user data). DTDs and entity declarations
 * are refused before any parser sees the text.
 */
import { parseStringPromise } from 'xml2js';
import { ProtocolError } from '../errors.js';

export const NS_BASE = 'urn:ietf:params:xml:ns:netconf:base:1.0';
export const NS_NOTIFICATION = 'urn:ietf:params:xml:ns:netconf:notification:1.0';
export const NS_WITH_DEFAULTS = 'urn:ietf:params:xml:ns:yang:ietf-netconf-with-defaults';

const FORBIDDEN = /<!(?:DOCTYPE|ENTITY|ELEMENT|ATTLIST)/i;

/** Throw if the text declares a DTD or entities (billion laughs, XXE). */
export function assertNoDtd(xml: string, what: string): void {
  if (FORBIDDEN.test(xml)) {
    throw new ProtocolError('QB_NETCONF_FORBIDDEN_XML', `${what} contains a DTD or entity declaration; refused without expanding it`);
  }
}

/** Escape text for an XML element body or attribute value. */
export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** Undo the five predefined entities and numeric character references. */
export function unescapeXml(text: string): string {
  return text.replace(/&(lt|gt|amp|quot|apos|#x[0-9a-fA-F]+|#[0-9]+);/g, (_, e: string) => {
    switch (e) {
      case 'lt': return '<';
      case 'gt': return '>';
      case 'amp': return '&';
      case 'quot': return '"';
      case 'apos': return "'";
      default: {
        const cp = e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
        if (!(cp >= 1 && cp <= 0x10ffff) || (cp >= 0xd800 && cp <= 0xdfff)) {
          throw new ProtocolError('QB_NETCONF_BAD_XML', `character reference &${e}; is not a valid XML character`);
        }
        return String.fromCodePoint(cp);
      }
    }
  });
}

const ROOT = /^\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--[\s\S]*?-->\s*)*<(?:([A-Za-z_][\w.-]*):)?([A-Za-z_][\w.-]*)([^>]*)>/;

/** Local name, prefix and attribute text of the root element's start tag. */
export function rootElement(xml: string): { prefix?: string; name: string; attrs: string; end: number } | undefined {
  const m = ROOT.exec(xml);
  if (!m) return undefined;
  return { prefix: m[1], name: m[2]!, attrs: m[3]!, end: m[0].length };
}

/** Value of one attribute in start-tag attribute text. */
export function attribute(attrs: string, name: string): string | undefined {
  const m = new RegExp(`(?:^|\\s)${name.replace(/[-.]/g, '\\$&')}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`).exec(attrs);
  if (!m) return undefined;
  return unescapeXml(m[1] ?? m[2] ?? '');
}

/** Inner text of the first `<name>` element (any prefix), unescaped. */
export function firstText(xml: string, name: string): string | undefined {
  const m = new RegExp(`<(?:[\\w.-]+:)?${name}(?:\\s[^>]*)?>([^<]*)</(?:[\\w.-]+:)?${name}>`).exec(xml);
  return m ? unescapeXml(m[1]!.trim()) : undefined;
}

/** Inner XML of the first element `name` (any prefix), or undefined; `<name/>` gives ''. */
export function innerXml(xml: string, name: string, from = 0): string | undefined {
  const open = new RegExp(`<((?:[\\w.-]+:)?)${name}(\\s[^>]*?)?(/?)>`, 'g');
  open.lastIndex = from;
  const m = open.exec(xml);
  if (!m) return undefined;
  if (m[3] === '/') return '';
  const close = `</${m[1]}${name}>`;
  const end = xml.lastIndexOf(close);
  if (end < open.lastIndex) return undefined;
  return xml.slice(open.lastIndex, end);
}

/** Parse XML into plain objects (xml2js, namespace prefixes stripped, attributes under `$`). */
export async function parseXml(xml: string): Promise<any> {
  assertNoDtd(xml, 'XML');
  try {
    return await parseStringPromise(xml, {
      explicitArray: false,
      tagNameProcessors: [(n: string) => n.replace(/^[^:]+:/, '')],
      attrNameProcessors: [(n: string) => n],
    });
  } catch (err) {
    throw new ProtocolError('QB_NETCONF_BAD_XML', `malformed XML: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
}

/** Check that a caller's XML fragment is well formed before it is sent. */
export async function assertWellFormed(fragment: string, what: string): Promise<void> {
  assertNoDtd(fragment, what);
  try {
    await parseStringPromise(`<qb-wrap>${fragment}</qb-wrap>`);
  } catch (err) {
    const { InvalidArgumentError } = await import('../errors.js');
    throw new InvalidArgumentError(`${what} is not well-formed XML: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
}
