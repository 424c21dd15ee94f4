/**
 * juniper_junos (NETCONF): Junos XML configuration loaded with
 * `<load-configuration action="merge" format="xml">` (Junos' own load
 * semantics: deletions are `delete="delete"` attributes, not
 * nc:operation), then the standard candidate / confirmed-commit flow.
 *
 * A policy becomes
 * - firewall: a policer (single rate) or a two-rate three-color-policer
 *   (peak above committed), and an inet / inet6 filter whose first term
 *   matches the classifier, polices (when action is police) and sets the
 *   forwarding class and loss priority; a last term accepts everything else;
 * - class-of-service: a forwarding class on queue 7 - queue-priority, a
 *   scheduler (transmit-rate committed, shaping-rate peak when action is
 *   shape, priority from queue-priority), a scheduler-map, a DSCP rewrite
 *   rule when remark is set, bound to the egress interface;
 * - interfaces: the filter in the unit's input-list (ingress interface) or
 *   output-list (egress interface), so other filters on the unit stay.
 * The unit is the VLAN id when the classifier has one, 0 otherwise. A
 * partition's network-instance is a Junos logical system: firewall and
 * interfaces go under `logical-systems <ni>`; class-of-service stays global.
 * Limitation: Junos binds one scheduler-map per interface, so a second
 * policy on the same egress interface replaces the first one's map; several
 * services per interface need one map rendered from all of them.
 */
import type { ResolvedPolicy } from '../../policy/types.js';
import { dropPrecedence, dscpBits, families, leaf, objectName, prefixesOf } from '../common.js';
import { CANDIDATE_CONFIRMED_COMMIT, type NetconfPayload, type Platform } from '../types.js';

const LOSS = { low: 'low', medium: 'medium-high', high: 'high' } as const;
const PRIORITY = ['strict-high', 'high', 'medium-high', 'medium-high', 'medium-low', 'medium-low', 'low', 'low'] as const;

function kbit(k: number): string {
  return `${k}k`;
}

function render(p: ResolvedPolicy): NetconfPayload {
  const n = objectName(p);
  const c = p.classifier;
  const r = p.rates;
  const unit = c.vlan ?? 0;
  const twoRate = r.peakKbps > r.committedKbps;
  const police = p.action === 'police';
  const loss = LOSS[dropPrecedence(p.trafficClass)];
  const fams = families(p);

  const policer = !police
    ? ''
    : twoRate
      ? `<three-color-policer>${leaf('name', `${n}-pol`)}<action><loss-priority>${leaf('name', 'high')}<then><discard/></then></loss-priority></action>` +
        `<two-rate><color-blind/>${leaf('committed-information-rate', kbit(r.committedKbps))}${leaf('committed-burst-size', r.committedBurstBytes)}${leaf('peak-information-rate', kbit(r.peakKbps))}${leaf('peak-burst-size', r.peakBurstBytes)}</two-rate></three-color-policer>`
      : `<policer>${leaf('name', `${n}-pol`)}<if-exceeding>${leaf('bandwidth-limit', kbit(r.committedKbps))}${leaf('burst-size-limit', r.committedBurstBytes)}</if-exceeding><then><discard/></then></policer>`;
  const policerRef = !police ? '' : twoRate ? `<three-color-policer>${leaf('two-rate', `${n}-pol`)}</three-color-policer>` : leaf('policer', `${n}-pol`);

  const filters = fams
    .map((f) => {
      const fam = f === 4 ? 'inet' : 'inet6';
      const from =
        prefixesOf(c.sourcePrefixes, f).map((x) => `<source-address>${leaf('name', x)}</source-address>`).join('') +
        prefixesOf(c.destinationPrefixes, f).map((x) => `<destination-address>${leaf('name', x)}</destination-address>`).join('') +
        c.dscp.map((d) => leaf(f === 4 ? 'dscp' : 'traffic-class', d)).join('');
      return (
        `<family><${fam}><filter>${leaf('name', `${n}-${fam}`)}` +
        `<term>${leaf('name', 'qb-match')}${from ? `<from>${from}</from>` : ''}<then>${policerRef}${leaf('forwarding-class', n)}${leaf('loss-priority', loss)}<accept/></then></term>` +
        `<term>${leaf('name', 'qb-other')}<then><accept/></then></term>` +
        `</filter></${fam}></family>`
      );
    })
    .join('');

  const filterIf = c.ingressInterface ?? c.egressInterface;
  const list = c.ingressInterface ? 'input-list' : 'output-list';
  const ifFilters = (del: string) =>
    `<interfaces><interface>${leaf('name', filterIf)}<unit>${leaf('name', unit)}<family>` +
    fams.map((f) => { const fam = f === 4 ? 'inet' : 'inet6'; return `<${fam}><filter><${list}${del}>${n}-${fam}</${list}></filter></${fam}>`; }).join('') +
    '</family></unit></interface></interfaces>';

  const rewrite = p.remark
    ? `<rewrite-rules>${fams.map((f) => { const t = f === 4 ? 'dscp' : 'dscp-ipv6'; return `<${t}>${leaf('name', n)}<forwarding-class>${leaf('name', n)}<loss-priority>${leaf('name', loss)}${leaf('code-point', dscpBits(p.dscp))}</loss-priority></forwarding-class></${t}>`; }).join('')}</rewrite-rules>`
    : '';
  const cosIfRewrite = (del: string) =>
    p.remark ? `<unit>${leaf('name', unit)}<rewrite-rules>${fams.map((f) => { const t = f === 4 ? 'dscp' : 'dscp-ipv6'; return `<${t}${del}>${leaf('name', n)}</${t}>`; }).join('')}</rewrite-rules></unit>` : '';
  const scheduler =
    `<schedulers>${leaf('name', n)}<transmit-rate>${leaf('rate', kbit(r.committedKbps))}</transmit-rate>` +
    (police ? '' : `<shaping-rate>${leaf('rate', kbit(r.peakKbps))}</shaping-rate>`) +
    `${leaf('priority', PRIORITY[p.queuePriority])}</schedulers>`;

  const inLs = (inner: string) => (p.networkInstance ? `<logical-systems>${leaf('name', p.networkInstance)}${inner}</logical-systems>` : inner);

  const config =
    '<configuration>' +
    inLs(`<firewall>${policer}${filters}</firewall>${ifFilters('')}`) +
    '<class-of-service>' +
    `<forwarding-classes><class>${leaf('name', n)}${leaf('queue-num', 7 - p.queuePriority)}</class></forwarding-classes>` +
    `<interfaces><interface>${leaf('name', c.egressInterface)}${leaf('scheduler-map', n)}${cosIfRewrite('')}</interface></interfaces>` +
    rewrite +
    `<scheduler-maps>${leaf('name', n)}<forwarding-class>${leaf('name', n)}${leaf('scheduler', n)}</forwarding-class></scheduler-maps>` +
    scheduler +
    '</class-of-service>' +
    '</configuration>';

  const D = ' delete="delete"';
  const removeConfig =
    '<configuration>' +
    inLs(
      '<firewall>' +
        (police ? (twoRate ? `<three-color-policer${D}>${leaf('name', `${n}-pol`)}</three-color-policer>` : `<policer${D}>${leaf('name', `${n}-pol`)}</policer>`) : '') +
        fams.map((f) => { const fam = f === 4 ? 'inet' : 'inet6'; return `<family><${fam}><filter${D}>${leaf('name', `${n}-${fam}`)}</filter></${fam}></family>`; }).join('') +
        '</firewall>' +
        ifFilters(D),
    ) +
    '<class-of-service>' +
    `<forwarding-classes><class${D}>${leaf('name', n)}</class></forwarding-classes>` +
    `<interfaces><interface>${leaf('name', c.egressInterface)}<scheduler-map${D}/>${cosIfRewrite(D)}</interface></interfaces>` +
    (p.remark ? `<rewrite-rules>${fams.map((f) => { const t = f === 4 ? 'dscp' : 'dscp-ipv6'; return `<${t}${D}>${leaf('name', n)}</${t}>`; }).join('')}</rewrite-rules>` : '') +
    `<scheduler-maps${D}>${leaf('name', n)}</scheduler-maps>` +
    `<schedulers${D}>${leaf('name', n)}</schedulers>` +
    '</class-of-service>' +
    '</configuration>';
  return { transport: 'netconf', config, removeConfig };
}

export const juniperJunos: Platform<NetconfPayload> = {
  id: 'juniper_junos',
  description: 'Junos XML: class-of-service (forwarding-classes, schedulers, scheduler-maps, rewrite-rules), firewall filter and policer',
  transport: 'netconf',
  capabilities: CANDIDATE_CONFIRMED_COMMIT,
  render,
  loadRpc: (config) => `<load-configuration action="merge" format="xml">${config}</load-configuration>`,
  verifyFilter: () => '<configuration><firewall/><class-of-service/><interfaces/><logical-systems/></configuration>',
};
