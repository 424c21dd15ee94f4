/**
 * `qos-broker order <operation>` and `qos-broker devices`: clients of a
 * running daemon's Management service (management.listen: a unix socket in
 * its data directory by default).
 *
 *   order create --from D/SITE --to D/SITE --class EF --rate 10M --for 2h [--latency 30ms] [--start ISO] [--customer C] [--via-exchange X] [--no-wait] [--out contract.json]
 *   order get ID | order list [--customer C] [--state S]
 *   order modify ID --rate 20M --for 2h      a boost, reverted on its own
 *   order terminate ID
 *   order check-sync ID | order redeploy ID
 *   devices [--probe]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { ManagementClient } from '../management/client.js';
import type { OrderMsg } from '../management/proto.js';
import { parseDuration, parseLatency, parseRate } from './agree.js';

export const ORDER_USAGE = `qos-broker order <operation> [options]   (--management unix:PATH|HOST:PORT, default $QOS_BROKER_MANAGEMENT)

  create --from D/SITE --to D/SITE --class CLASS --rate RATE --for DURATION
         [--latency 30ms] [--start ISO] [--objective cheapest|lowest-latency|balanced]
         [--customer NAME] [--via-exchange NAME] [--no-wait] [--out FILE]
                                             take an order; wait until it settles; write the contract
                                             (--via-exchange: the exchange NAME brokers the agreement)
  get ID                                     one order with its per-step plan
  list [--customer NAME] [--state STATE]     orders, oldest first
  modify ID --rate RATE --for DURATION       raise the rate for a while (reverted on its own)
  terminate ID                               end the service now
  check-sync ID                              compare the devices of every domain on the path with what was provisioned
  redeploy ID                                put what drifted back
  every operation takes --json`;

/** The Management client of --management or $QOS_BROKER_MANAGEMENT. */
export function managementClient(v: string | undefined): ManagementClient {
  const address = v ?? process.env.QOS_BROKER_MANAGEMENT;
  if (!address) throw new InvalidArgumentError('--management unix:PATH|HOST:PORT is required (or set $QOS_BROKER_MANAGEMENT): the daemon logs it as "management" when it starts');
  return new ManagementClient(address);
}

const money = (minor: number, cur: string) => `${(minor / 100).toFixed(2)} ${cur}`;

/** An order for people: state, path, price, plan, history. */
export function describeOrder(o: OrderMsg): string {
  const lines = [
    `order ${o.id} (${o.customer}): ${o.state}; service ${o.service_id} ${o.service_state} at ${o.rate_mbps} Mbit/s ${o.service.qos_class}, ${o.service.from} -> ${o.service.to}`,
    o.domains.length ? `  path ${o.domains.join(' > ')}${o.currency ? `, total ${money(o.total_price_minor, o.currency)}` : ''}, agreement ${o.agreement_id}` : `  agreement ${o.agreement_id}`,
  ];
  if (o.service.via_exchange) lines.push(`  brokered by exchange ${o.service.via_exchange}`);
  if (o.measured) lines.push(`  measured ${o.measured.rate_mbps.toFixed(2)} Mbit/s on ${o.measured.device} at ${o.measured.at} (over ${(o.measured.interval_ms / 1000).toFixed(1)} s, ${o.measured.drops} dropped)`);
  if (o.boost) lines.push(`  boost to ${o.boost.rate_mbps} Mbit/s until ${new Date(o.boost.until_ms).toISOString()}: ${o.boost.state}`);
  if (o.error) lines.push(`  error: ${o.error.domain ? `${o.error.domain}: ` : ''}${o.error.device ? `device ${o.error.device}: ` : ''}${o.error.code}: ${o.error.message}`);
  lines.push('  plan:');
  for (const s of o.plan) lines.push(`    ${s.step.padEnd(9)} ${s.domain.padEnd(12)} ${s.where.padEnd(8)} ${s.state}${s.error ? ` (${s.error.code}: ${s.error.message})` : ''}`);
  return `${lines.join('\n')}\n`;
}

export async function orderCommand(argv: string[], out: (t: string) => void = (t) => process.stdout.write(t)): Promise<void> {
  const [op, ...rest] = argv;
  const s = { type: 'string' } as const;
  const { values, positionals } = parseArgs({
    args: rest,
    strict: true,
    allowPositionals: true,
    options: { from: s, to: s, class: s, rate: s, latency: s, for: s, start: s, objective: s, 'via-exchange': s, customer: s, state: s, out: s, management: s, 'no-wait': { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (!op || values.help || op === 'help') {
    out(`${ORDER_USAGE}\n`);
    return;
  }
  const id = () => {
    if (positionals.length !== 1) throw new InvalidArgumentError(`qos-broker order ${op} takes one order id, got ${positionals.length}`);
    return positionals[0]!;
  };
  const show = (o: OrderMsg) => out(values.json ? `${JSON.stringify({ ...o, contract_json: undefined, contract: o.contract_json ? JSON.parse(o.contract_json) : null }, null, 2)}\n` : describeOrder(o));
  const need = (...ks: Array<keyof typeof values>) => {
    for (const k of ks) if (!values[k]) throw new InvalidArgumentError(`--${k} is required for order ${op}; usage:\n${ORDER_USAGE}`);
  };
  const c = managementClient(values.management);
  try {
    switch (op) {
      case 'create': {
        need('from', 'to', 'class', 'rate', 'for');
        const start = values.start === undefined ? 0 : Date.parse(values.start);
        if (!Number.isFinite(start)) throw new InvalidArgumentError(`--start must be an ISO 8601 time, got ${JSON.stringify(values.start)}`);
        const o = await c.createOrder(
          { from: values.from!, to: values.to!, qos_class: values.class!, rate_mbps: parseRate(values.rate!), duration_ms: parseDuration(values.for!), max_latency_ms: values.latency ? parseLatency(values.latency) : 0, start_ms: start, objective: values.objective ?? '', via_exchange: values['via-exchange'] ?? '' },
          values.customer ?? 'operator',
          !values['no-wait'],
        );
        if (values.out && o.contract_json) writeFileSync(values.out, `${JSON.stringify(JSON.parse(o.contract_json), null, 2)}\n`);
        show(o);
        if (o.state === 'failed') process.exitCode = 1;
        return;
      }
      case 'get':
        return show(await c.getOrder(id(), values.customer));
      case 'list': {
        const list = await c.listOrders({ customer: values.customer, state: values.state });
        if (values.json) return out(`${JSON.stringify(list.map((o) => ({ ...o, contract_json: undefined })), null, 2)}\n`);
        for (const o of list) out(`${o.id}  ${o.customer.padEnd(10)} ${o.state.padEnd(12)} ${o.service_state.padEnd(10)} ${o.rate_mbps} Mbit/s ${o.service.from} -> ${o.service.to}\n`);
        return;
      }
      case 'modify':
        need('rate', 'for');
        return show(await c.modifyOrder(id(), parseRate(values.rate!), parseDuration(values.for!), values.customer));
      case 'terminate':
        return show(await c.terminateOrder(id(), values.customer));
      case 'check-sync':
      case 'redeploy': {
        const r = op === 'redeploy' ? await c.redeploy(id()) : await c.checkSync(id());
        if (values.json) return out(`${JSON.stringify(r, null, 2)}\n`);
        out(`${r.order_id}: ${r.in_sync ? 'in sync' : 'OUT OF SYNC'}\n`);
        for (const d of r.devices) out(`  ${d.domain ? `${d.domain} ` : ''}${d.device || '(domain)'}: ${d.in_sync ? 'in sync' : d.error || d.diffs.slice(0, 5).join('; ')}\n`);
        if (!r.in_sync) process.exitCode = 1;
        return;
      }
      default:
        throw new InvalidArgumentError(`unknown order operation ${JSON.stringify(op)}; usage:\n${ORDER_USAGE}`);
    }
  } finally {
    c.close();
  }
}

/** `qos-broker devices [--probe]`: the daemon's routers. */
export async function devicesCommand(argv: string[], out: (t: string) => void = (t) => process.stdout.write(t)): Promise<void> {
  const { values } = parseArgs({ args: argv, strict: true, options: { management: { type: 'string' }, probe: { type: 'boolean' }, json: { type: 'boolean' } } });
  const c = managementClient(values.management);
  try {
    const list = await c.devices(values.probe ?? false);
    if (values.json) return out(`${JSON.stringify(list, null, 2)}\n`);
    for (const d of list) {
      out(`${d.name.padEnd(12)} ${d.platform.padEnd(14)} ${d.address.padEnd(22)} border ${d.border}${values.probe ? `  ${d.reachable ? 'reachable' : `UNREACHABLE: ${d.error}`}` : ''}\n`);
      out(`  interfaces: ${d.interfaces.join(', ')}\n`);
      if (d.capabilities.length) out(`  capabilities: ${d.capabilities.join(' ')}\n`);
      out(`  services: ${d.services.length ? d.services.join(', ') : 'none'}\n`);
    }
  } finally {
    c.close();
  }
}
