// The customer's view: its own services (state, rate now, a chart of the rate
// over time), the signed contract of each, a self-service boost priced before
// it is confirmed, and the order history with each order's per-step plan.
import { h } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';
import uPlot from 'uplot';
import { AGREEMENT, INV, ORD, QUOTE, char, durationMs, fmtTime, money } from './api.js';

const html = htm.bind(h);
const POLL_MS = 1000;
const HISTORY = 600;

/** Call `fn` now and every `ms` while mounted. */
function usePoll(fn, ms, deps) {
  useEffect(() => {
    let live = true;
    let timer;
    const run = async () => {
      try {
        await fn(() => live);
      } finally {
        if (live) timer = setTimeout(run, ms);
      }
    };
    run();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, deps);
}

/** The rate of a service over time as the portal saw it (sampled at each poll). */
function RateChart({ points, measured }) {
  const el = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    const opts = {
      width: 520,
      height: 170,
      scales: { x: { time: true }, y: { range: (_u, min, max) => [0, Math.max(max * 1.2, 1)] } },
      series: [{}, { label: 'rate now (Mbit/s)', stroke: '#1f6feb', width: 2 }, ...(measured ? [{ label: 'measured (Mbit/s)', stroke: '#2da44e', width: 1 }] : [])],
      axes: [{}, { label: 'Mbit/s' }],
    };
    plot.current = new uPlot(opts, measured ? [[], [], []] : [[], []], el.current);
    return () => plot.current.destroy();
  }, []);
  useEffect(() => {
    const data = [points.map((p) => p.t), points.map((p) => p.rate)];
    plot.current?.setData(measured ? [...data, points.map((p) => p.measured ?? null)] : data);
  }, [points]);
  return html`<div class="chart" ref=${el} data-points=${points.length} data-measured-points=${points.filter((p) => p.measured !== undefined).length}></div>`;
}

function Plan({ plan }) {
  if (!plan || plan.length === 0) return html`<p class="muted">no steps</p>`;
  return html`<table class="plan">
    <thead><tr><th>step</th><th>domain</th><th>where</th><th>state</th><th>started</th><th>finished</th><th>error</th></tr></thead>
    <tbody>${plan.map((s) => html`<tr class=${`step ${s.state}`}><td>${s.step}</td><td>${s.domain}</td><td>${s.where}</td><td class="state">${s.state}</td><td>${fmtTime(s.started)}</td><td>${fmtTime(s.finished)}</td><td>${s.error ? `${s.error.code}: ${s.error.message}` : ''}</td></tr>`)}</tbody>
  </table>`;
}

function download(name, text) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
  a.download = name;
  document.body.append(a);
  a.click();
  setTimeout(() => {
    URL.revokeObjectURL(a.href);
    a.remove();
  }, 0);
}

/** Rate and duration, "Get price" (TMF648 quote), then "Confirm" (TMF641 modify order). */
function Boost({ api, service, onOrdered }) {
  const rateNow = char(service.serviceCharacteristic, 'orderedRateMbps');
  const [rate, setRate] = useState(String(rateNow * 2));
  const [duration, setDuration] = useState('PT2H');
  const [quote, setQuote] = useState(undefined);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [result, setResult] = useState(undefined);
  const item = { id: '1', action: 'modify' };
  const chars = () => [{ name: 'rateMbps', value: Number(rate) }, { name: 'duration', value: duration }];
  const check = () => {
    if (!(Number(rate) > rateNow)) return `the boosted rate must be above the ordered ${rateNow} Mbit/s`;
    if (!durationMs(duration)) return 'the duration is an ISO 8601 duration such as PT2H or PT30M';
    return '';
  };
  const price = async (e) => {
    e.preventDefault();
    setResult(undefined);
    const bad = check();
    setError(bad);
    setQuote(undefined);
    if (bad) return;
    setBusy(true);
    try {
      setQuote(await api.post(`${QUOTE}/quote`, { quoteItem: [{ ...item, product: { id: service.id, productCharacteristic: chars() } }] }));
    } catch (err) {
      setError(err.message);
    } finally {
      setBusy(false);
    }
  };
  const confirm = async () => {
    setBusy(true);
    setError('');
    try {
      const o = await api.post(`${ORD}/serviceOrder`, { serviceOrderItem: [{ ...item, service: { id: service.id, serviceCharacteristic: chars() } }] }, { 'idempotency-key': quote.id });
      setResult(o);
      setQuote(undefined);
      onOrdered();
    } catch (err) {
      setError(err.message);
    } finally {
      setBusy(false);
    }
  };
  // TMF648: the quote's one item, priced over the service's own path (@qbPath: the charge per domain)
  const quoted = quote?.quoteItem?.[0];
  const total = quoted?.quoteItemPrice?.[0]?.price?.dutyFreeAmount;
  const extra = quoted?.product?.productCharacteristic?.find((c) => c.name === 'extraRateMbps')?.value;
  return html`<form class="boost" onSubmit=${price}>
    <h3>Boost</h3>
    <label>rate (Mbit/s) <input id="boost-rate" type="number" min="0" step="any" value=${rate} onInput=${(e) => { setRate(e.target.value); setQuote(undefined); }} /></label>
    <label>for <input id="boost-duration" value=${duration} onInput=${(e) => { setDuration(e.target.value); setQuote(undefined); }} placeholder="PT2H" /></label>
    <button id="boost-price" type="submit" disabled=${busy}>Get price</button>
    ${quote && quote.state !== 'approved' && html`<p class="error" id="boost-error">${quote.errorMessage?.[0] ? `${quote.errorMessage[0].code}: ${quote.errorMessage[0].message}` : 'this boost cannot be had'}</p>`}
    ${quote && quote.state === 'approved' && html`<div class="quote" id="boost-quote">
      <p>Price: <strong id="boost-total">${money(total)}</strong> for ${extra} Mbit/s more (${rate} Mbit/s in all) for ${duration}</p>
      <ul>${(quoted['@qbPath']?.segments || []).map((s) => html`<li>${s.domain}: ${money({ value: s.charge, unit: total.unit })}</li>`)}</ul>
      <button id="boost-confirm" type="button" disabled=${busy} onClick=${confirm}>Confirm and order</button>
      <button type="button" onClick=${() => setQuote(undefined)}>Cancel</button>
    </div>`}
    ${result && html`<p class=${`result ${result.state}`} id="boost-result">boost order ${result.id}: <span class="state">${result.state}</span>${result.errorMessage ? ` (${result.errorMessage[0].message})` : ''}</p>`}
    ${error && html`<p class="error" id="boost-error">${error}</p>`}
  </form>`;
}

function ServiceDetail({ api, service, history, onOrdered }) {
  const orderId = service.serviceOrderItem?.[0]?.serviceOrderId;
  const [order, setOrder] = useState(undefined);
  const [error, setError] = useState('');
  usePoll(async (live) => {
    const o = await api.get(`${ORD}/serviceOrder/${orderId}`).catch(() => undefined);
    if (live() && o) setOrder(o);
  }, 3000, [service.id]);
  const contract = async () => {
    setError('');
    try {
      const id = order['@qbAgreementId'];
      download(`${id}.json`, await api.text(`${AGREEMENT}/agreement/${id}/document`));
    } catch (err) {
      setError(err.message);
    }
  };
  const c = service.serviceCharacteristic;
  return html`<section class="detail" id="service-detail" data-service-id=${service.id}>
    <h2>${service.name}</h2>
    <dl>
      <dt>state</dt><dd id="detail-state">${service.state}</dd>
      <dt>rate now</dt><dd><span id="detail-rate">${char(c, 'rateMbps')}</span> Mbit/s</dd>
      <dt>ordered rate</dt><dd>${char(c, 'orderedRateMbps')} Mbit/s</dd>
      ${char(c, 'maxLatencyMs') !== undefined && html`<dt>latency bound</dt><dd>${char(c, 'maxLatencyMs')} ms</dd>`}
      <dt>window</dt><dd>${fmtTime(service.startDate)} to ${fmtTime(service.endDate)}</dd>
      ${char(c, 'boostUntil') && html`<dt>boosted until</dt><dd id="detail-boost-until">${fmtTime(char(c, 'boostUntil'))}</dd>`}
      ${char(c, 'measuredRateMbps') !== undefined && html`<dt>measured</dt><dd><span id="detail-measured">${char(c, 'measuredRateMbps')}</span> Mbit/s through the provider's router, at ${fmtTime(char(c, 'measuredAt'))}</dd>`}
    </dl>
    <${RateChart} points=${history} measured=${char(c, 'measuredRateMbps') !== undefined} key=${char(c, 'measuredRateMbps') !== undefined} />
    <p class="muted">The chart shows the rate the service has now, sampled by this page every second${char(c, 'measuredRateMbps') === undefined ? '; this provider publishes no measured rate' : ', and the measured rate'}.</p>
    <button id="contract-download" disabled=${!order?.['@qbAgreementId']} onClick=${contract}>Download the signed contract</button>
    ${error && html`<p class="error">${error}</p>`}
    ${service.state === 'active' && html`<${Boost} api=${api} service=${service} onOrdered=${onOrdered} key=${service.id} />`}
  </section>`;
}

function Orders({ orders }) {
  if (orders.length === 0) return html`<p class="muted">no orders yet</p>`;
  return html`<div id="orders">${[...orders].reverse().map((o) => {
    const item = o.serviceOrderItem[0];
    return html`<details class="order" data-order-id=${o.id} data-state=${o.state} open=${item.action === 'add'}>
      <summary><code>${o.id}</code> ${item.action} <span class="state">${o.state}</span> ${fmtTime(o.orderDate)}
        ${item.action === 'modify' ? ` to ${char(item.service.serviceCharacteristic, 'rateMbps')} Mbit/s for ${char(item.service.serviceCharacteristic, 'duration')}` : ` ${char(item.service.serviceCharacteristic, 'from')} to ${char(item.service.serviceCharacteristic, 'to')}, ${char(item.service.serviceCharacteristic, 'rateMbps')} Mbit/s`}</summary>
      ${o.errorMessage && html`<p class="error">${o.errorMessage.map((e) => e.message).join('; ')}</p>`}
      ${item.action === 'add' ? html`<${Plan} plan=${o['@qbPlan']} />` : html`<p class="muted">modifies service ${item.service.id}; its steps are in the plan of ${o['@qbModifiedOrderId']}</p>`}
    </details>`;
  })}</div>`;
}

export function CustomerView({ api }) {
  const [services, setServices] = useState([]);
  const [orders, setOrders] = useState([]);
  const [selected, setSelected] = useState(undefined);
  const [error, setError] = useState('');
  const [tick, setTick] = useState(0);
  const history = useRef(new Map());
  usePoll(async (live) => {
    try {
      const [s, o] = await Promise.all([api.get(`${INV}/service?limit=1000`), api.get(`${ORD}/serviceOrder?limit=1000`)]);
      if (!live()) return;
      const t = Date.now() / 1000;
      for (const x of s) {
        const pts = history.current.get(x.id) || [];
        pts.push({ t, rate: char(x.serviceCharacteristic, 'rateMbps'), measured: char(x.serviceCharacteristic, 'measuredRateMbps') });
        history.current.set(x.id, pts.slice(-HISTORY));
      }
      setServices(s);
      setOrders(o);
      setError('');
    } catch (err) {
      if (live()) setError(err.message);
    }
  }, POLL_MS, [api, tick]);
  const customer = services[0]?.relatedParty?.[0]?.id ?? orders[0]?.relatedParty?.[0]?.id;
  const chosen = services.find((s) => s.id === selected);
  return html`<div class="customer">
    ${customer && html`<p id="customer-name">Customer <strong>${customer}</strong></p>`}
    ${error && html`<p class="error" id="load-error">${error}</p>`}
    <h2>Services</h2>
    ${services.length === 0 ? html`<p class="muted" id="no-services">no services</p>` : html`<table id="services">
      <thead><tr><th>service</th><th>name</th><th>state</th><th>rate now (Mbit/s)</th><th>until</th></tr></thead>
      <tbody>${services.map((s) => html`<tr class=${s.id === selected ? 'selected' : ''} data-service-id=${s.id} onClick=${() => setSelected(s.id)}>
        <td><code>${s.id}</code></td><td>${s.name}</td><td class="state">${s.state}</td><td class="rate">${char(s.serviceCharacteristic, 'rateMbps')}</td><td>${fmtTime(s.endDate)}</td></tr>`)}</tbody>
    </table>`}
    ${chosen && html`<${ServiceDetail} api=${api} service=${chosen} history=${history.current.get(chosen.id) || []} onOrdered=${() => setTick((n) => n + 1)} key=${chosen.id} />`}
    <h2>Orders</h2>
    <${Orders} orders=${orders} />
  </div>`;
}
