// The operator's view: the domain graph (our domain, peers, what each
// advertises, with utilisation) drawn with cytoscape, the sessions with
// peers, orders by state and alarms.
import { h } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';
import cytoscape from 'cytoscape';
import { ALARM, ApiError, ORD, TOPOLOGY, char, fmtTime } from './api.js';

const html = htm.bind(h);
const POLL_MS = 2000;

/** Share of an edge's capacity in use, per class: 1 - available / capacity. */
function usage(classes) {
  return Object.entries(classes || {}).map(([cls, m]) => {
    const cap = m.capacityMbps ?? m.availableMbps;
    return { cls, cap, available: m.availableMbps, latencyMs: m.latencyMs, used: cap > 0 ? Math.max(0, 1 - m.availableMbps / cap) : 0 };
  });
}
const pct = (x) => `${Math.round(x * 100)}%`;
const colour = (u) => (u >= 0.8 ? '#cf222e' : u >= 0.5 ? '#bf8700' : '#2da44e');

/** Every edge the domains advertise: intra-domain transits and links to peers. */
export function advertisedEdges(topology) {
  const out = [];
  for (const a of topology.adverts) {
    for (const t of a.transits || []) out.push({ kind: 'transit', domain: a.origin, from: `${a.origin}/${t.from}`, to: `${a.origin}/${t.to}`, both: !!t.bidirectional, classes: usage(t.classes) });
    for (const l of a.links || []) out.push({ kind: 'link', domain: a.origin, from: `${a.origin}/${l.border}`, to: `${l.peerDomain}/${l.peerBorder}`, both: false, classes: usage(l.classes) });
  }
  return out;
}

function elements(topology) {
  const els = [];
  const peers = new Map(topology.peers.map((p) => [p.domain, p.state]));
  const nodes = new Set();
  for (const a of topology.adverts) {
    const self = a.origin === topology.domain;
    els.push({ data: { id: a.origin, label: self ? `${a.origin} (this domain)` : `${a.origin}${peers.has(a.origin) ? ` · ${peers.get(a.origin)}` : ''}` }, classes: self ? 'domain self' : 'domain' });
    for (const b of a.borders) {
      nodes.add(`${a.origin}/${b}`);
      els.push({ data: { id: `${a.origin}/${b}`, parent: a.origin, label: b }, classes: 'border' });
    }
    for (const s of a.sites || []) {
      const id = `${a.origin}/site:${s.id}`;
      els.push({ data: { id, parent: a.origin, label: s.id }, classes: 'site' });
      for (const b of s.borders) els.push({ data: { id: `${id}-${b}`, source: id, target: `${a.origin}/${b}`, label: '' }, classes: 'attach' });
    }
  }
  advertisedEdges(topology).forEach((e, i) => {
    if (!nodes.has(e.from) || !nodes.has(e.to)) return;
    const worst = Math.max(0, ...e.classes.map((c) => c.used));
    els.push({ data: { id: `e${i}`, source: e.from, target: e.to, label: e.classes.map((c) => `${c.cls} ${pct(c.used)}`).join(' '), colour: colour(worst) }, classes: `${e.kind}${e.both ? ' both' : ''}` });
  });
  return els;
}

/**
 * Where each node goes: domains in columns, in breadth-first order of their links from ours
 * (a chain of providers reads left to right), borders side by side in a domain, sites below.
 */
function positions(topology) {
  const byOrigin = new Map(topology.adverts.map((a) => [a.origin, a]));
  const order = [];
  const queue = [byOrigin.has(topology.domain) ? topology.domain : topology.adverts[0]?.origin].filter(Boolean);
  while (queue.length || order.length < byOrigin.size) {
    const d = queue.shift() ?? [...byOrigin.keys()].find((x) => !order.includes(x));
    if (order.includes(d)) continue;
    order.push(d);
    for (const l of byOrigin.get(d).links || []) if (byOrigin.has(l.peerDomain) && !order.includes(l.peerDomain)) queue.push(l.peerDomain);
  }
  const pos = {};
  let x = 0;
  for (const d of order) {
    const a = byOrigin.get(d);
    a.borders.forEach((b, j) => (pos[`${d}/${b}`] = { x: x + j * 170, y: (j % 2) * 40 }));
    (a.sites || []).forEach((s, j) => (pos[`${d}/site:${s.id}`] = { x: x + j * 110, y: 150 }));
    x += Math.max(a.borders.length, (a.sites || []).length) * 170 + 150;
  }
  return pos;
}

function Graph({ topology }) {
  const el = useRef(null);
  const cy = useRef(null);
  const shape = useRef('');
  const [drawn, setDrawn] = useState({ nodes: 0, edges: 0 });
  useEffect(() => {
    cy.current = cytoscape({
      container: el.current,
      style: [
        { selector: 'node', style: { label: 'data(label)', 'font-size': 12, 'text-valign': 'center', 'text-halign': 'center' } },
        { selector: '.domain', style: { 'background-color': '#eef2f7', 'border-color': '#8c959f', 'border-width': 1, 'text-valign': 'top', 'font-weight': 'bold', padding: 14 } },
        { selector: '.self', style: { 'background-color': '#ddf4ff', 'border-color': '#1f6feb', 'border-width': 2 } },
        { selector: '.border', style: { 'background-color': '#57606a', color: '#fff', width: 34, height: 34, shape: 'round-rectangle' } },
        { selector: '.site', style: { 'background-color': '#fff', 'border-color': '#57606a', 'border-width': 1, shape: 'round-rectangle', width: 76, height: 22, 'font-size': 10 } },
        { selector: 'edge', style: { width: 2, 'curve-style': 'bezier', 'target-arrow-shape': 'triangle', label: 'data(label)', 'font-size': 9, 'text-background-color': '#fff', 'text-background-opacity': 0.8, 'line-color': 'data(colour)', 'target-arrow-color': 'data(colour)' } },
        { selector: '.link', style: { label: '', 'source-label': 'data(label)', 'source-text-offset': 45, 'source-text-margin-y': -8 } },
        { selector: '.both', style: { 'source-arrow-shape': 'triangle', 'source-arrow-color': 'data(colour)' } },
        { selector: '.attach', style: { 'line-style': 'dashed', 'line-color': '#8c959f', 'target-arrow-shape': 'none', width: 1 } },
      ],
      userZoomingEnabled: true,
    });
    return () => cy.current.destroy();
  }, []);
  useEffect(() => {
    const els = elements(topology);
    const key = els.map((e) => e.data.id).join(',');
    if (key === shape.current) {
      for (const e of els) cy.current.getElementById(e.data.id).data(e.data);
      return;
    }
    shape.current = key;
    cy.current.elements().remove();
    cy.current.add(els);
    cy.current.resize();
    const pos = positions(topology);
    cy.current.layout({ name: 'preset', positions: (n) => pos[n.id()] ?? { x: 0, y: 0 }, fit: false }).run();
    cy.current.fit(undefined, 30);
    setDrawn({ nodes: cy.current.nodes('.border').length, edges: cy.current.edges('.transit, .link').length });
  }, [topology]);
  const doms = topology.adverts.length;
  return html`<div id="graph" class="graph" ref=${el} data-domains=${doms} data-nodes=${drawn.nodes} data-edges=${drawn.edges}></div>`;
}

function OrdersByState({ orders }) {
  const counts = new Map();
  for (const o of orders) counts.set(o.state, (counts.get(o.state) || 0) + 1);
  return html`<div>
    <p id="order-states">${[...counts].map(([s, n]) => html`<span class="chip" data-state=${s}>${s}: <strong>${n}</strong></span>`)}${orders.length === 0 && html`<span class="muted">no orders</span>`}</p>
    <table id="operator-orders">
      <thead><tr><th>order</th><th>customer</th><th>action</th><th>state</th><th>service</th><th>ordered</th></tr></thead>
      <tbody>${[...orders].reverse().map((o) => {
        const item = o.serviceOrderItem[0];
        return html`<tr data-order-id=${o.id} data-state=${o.state}><td><code>${o.id}</code></td><td class="customer">${o.relatedParty?.[0]?.id}</td><td>${item.action}</td><td class="state">${o.state}</td><td>${item.service.id} ${item.service.state ? `(${item.service.state})` : ''} ${char(item.service.serviceCharacteristic, 'rateMbps')} Mbit/s</td><td>${fmtTime(o.orderDate)}</td></tr>`;
      })}</tbody>
    </table>
  </div>`;
}

function Alarms({ alarms }) {
  if (alarms === null) return html`<p class="muted" id="alarms">this daemon serves no alarm resource (TMF642) yet</p>`;
  if (alarms.length === 0) return html`<p class="muted" id="alarms">no alarms</p>`;
  return html`<table id="alarms">
    <thead><tr><th>raised</th><th>severity</th><th>state</th><th>source</th><th>text</th></tr></thead>
    <tbody>${alarms.map((a) => html`<tr><td>${fmtTime(a.alarmRaisedTime)}</td><td>${a.perceivedSeverity}</td><td>${a.state}</td><td>${a.alarmedObject?.id ?? ''}</td><td>${a.alarmDetails ?? a.specificProblem ?? a.probableCause ?? ''}</td></tr>`)}</tbody>
  </table>`;
}

export function OperatorView({ api }) {
  const [topology, setTopology] = useState(undefined);
  const [orders, setOrders] = useState([]);
  const [alarms, setAlarms] = useState([]);
  const [error, setError] = useState('');
  useEffect(() => {
    let live = true;
    let timer;
    const run = async () => {
      try {
        const [t, o, a] = await Promise.all([
          api.get(TOPOLOGY),
          api.get(`${ORD}/serviceOrder?limit=1000`),
          api.get(`${ALARM}/alarm`).catch((err) => (err instanceof ApiError && err.status === 404 ? null : Promise.reject(err))),
        ]);
        if (!live) return;
        setTopology(t);
        setOrders(o);
        setAlarms(a);
        setError('');
      } catch (err) {
        if (live) setError(err.message);
      } finally {
        if (live) timer = setTimeout(run, POLL_MS);
      }
    };
    run();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [api]);
  if (!topology) return html`<p>Loading&hellip;${error && html` <span class="error">${error}</span>`}</p>`;
  return html`<div class="operator">
    ${error && html`<p class="error" id="load-error">${error}</p>`}
    <h2>Domain graph of ${topology.domain}</h2>
    <${Graph} topology=${topology} />
    <p class="muted">Borders of every advertised domain; arrows are the transits and inter-domain links each domain advertises, labelled with the share of each class's capacity in use (green under 50%, amber under 80%, red above).</p>
    <h3>Advertised transits and links</h3>
    <table id="edges">
      <thead><tr><th>domain</th><th>kind</th><th>from</th><th>to</th><th>class</th><th>capacity (Mbit/s)</th><th>available</th><th>in use</th></tr></thead>
      <tbody>${advertisedEdges(topology).flatMap((e) => e.classes.map((c) => html`<tr data-kind=${e.kind} data-domain=${e.domain}><td>${e.domain}</td><td>${e.kind}${e.both ? ' (both ways)' : ''}</td><td>${e.from}</td><td>${e.to}</td><td>${c.cls}</td><td>${c.cap}</td><td>${c.available}</td><td class="used">${pct(c.used)}</td></tr>`))}</tbody>
    </table>
    <h2>Peers</h2>
    <table id="peers">
      <thead><tr><th>domain</th><th>session</th><th>direction</th><th>since</th><th>address</th><th>last error</th></tr></thead>
      <tbody>${topology.peers.map((p) => html`<tr data-peer=${p.domain} data-state=${p.state}><td>${p.domain}</td><td class="state">${p.state}</td><td>${p.direction ?? ''}</td><td>${fmtTime(p.since)}</td><td>${p.address ?? ''}</td><td>${p.lastError ?? ''}</td></tr>`)}</tbody>
    </table>
    <h3>Known domains</h3>
    <table id="domains">
      <thead><tr><th>domain</th><th>advert seq</th><th>expires</th><th>classes</th></tr></thead>
      <tbody>${topology.domains.map((d) => html`<tr data-domain=${d.domain}><td>${d.domain}${d.self ? ' (this domain)' : ''}</td><td>${d.seq ?? ''}</td><td>${fmtTime(d.expiresAt)}</td><td>${d.classes.join(', ')}${d.withdrawn ? ' (withdrawn)' : ''}</td></tr>`)}</tbody>
    </table>
    <h2>Orders by state</h2>
    <${OrdersByState} orders=${orders} />
    <h2>Alarms</h2>
    <${Alarms} alarms=${alarms} />
  </div>`;
}
