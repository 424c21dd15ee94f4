import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { makePki, type TestPki } from '../../../lab/pki.js';
import { inventoryFor, pin, startBroker, waitFor, type TestBroker } from './cores.js';
import { backoffDelay } from '../../../daemon/peering/session.js';
import { checkPeerCertificate, normaliseFingerprint } from '../../../daemon/peering/tls.js';
import { rawPublicKey, signAdvert } from '../../../daemon/peering/advert.js';

let pki: TestPki;
const running: TestBroker[] = [];

beforeAll(() => {
  pki = makePki();
});
afterAll(async () => {
  for (const b of running) await b.stop().catch(() => {});
  pki?.cleanup();
});

async function start(...args: Parameters<typeof startBroker>): Promise<TestBroker> {
  const b = await startBroker(...args);
  running.push(b);
  return b;
}

describe('peering sessions over gRPC with mutual TLS', () => {
  test('session - three brokers in a line converge on each other\'s advertisements and flooding stops', async () => {
    const a = pki.domain('dom-a');
    const b = pki.domain('dom-b');
    const c = pki.domain('dom-c');
    const keys = { 'dom-a': rawPublicKey(a.advertKeyPem), 'dom-c': rawPublicKey(c.advertKeyPem) };
    // advertisements live long enough not to be refreshed during the test (a refresh is a legitimate flood)
    const ba = await start(a, { peers: [pin(pki, b)], inventory: inventoryFor('dom-a', ['dom-b']), originKeys: { 'dom-c': keys['dom-c'] }, lifetimeS: 300 });
    const bc = await start(c, { peers: [pin(pki, b)], inventory: inventoryFor('dom-c', ['dom-b']), originKeys: { 'dom-a': keys['dom-a'] }, lifetimeS: 300 });
    const bb = await start(b, { peers: [pin(pki, a, ba.address), pin(pki, c, bc.address)], inventory: inventoryFor('dom-b', ['dom-a', 'dom-c']), lifetimeS: 300 });
    const origins = (x: TestBroker) => x.core.adverts().map((ad) => ad.envelope.origin);
    for (const x of [ba, bb, bc]) await waitFor(`${x.files.domain} sees all`, () => origins(x).length === 3);
    expect(origins(ba)).toEqual(['dom-a', 'dom-b', 'dom-c']);
    expect(ba.core.peerViews()[0]).toMatchObject({ domain: 'dom-b', state: 'established', direction: 'inbound', holdTimeS: 3 });
    expect(bb.core.peerViews().map((p) => p.state)).toEqual(['established', 'established']);
    // no loops: once converged, each new advertisement crosses each link once and nothing more is sent.
    // Markers: one at dom-a, then one at dom-c; each travels behind whatever was sent before it on its
    // streams, so when both have reached the far end an echo or a loop would have been sent (and counted)
    const sent = () => [ba, bb, bc].reduce((n, x) => n + x.core.stats.advertsSent.advertisement!, 0);
    const originated = () => [ba, bb, bc].reduce((n, x) => n + x.core.stats.originated, 0);
    const [sentBefore, originatedBefore] = [sent(), originated()];
    const seqA = ba.core.originate('test')!.envelope.seq;
    await waitFor('dom-c has the new dom-a seq (through dom-b)', () => bc.core.table.get('dom-a')?.envelope.seq === seqA);
    const seqC = bc.core.originate('test')!.envelope.seq;
    await waitFor('dom-a has the new dom-c seq (through dom-b)', () => ba.core.table.get('dom-c')?.envelope.seq === seqC);
    expect(originated() - originatedBefore).toBe(2);
    expect(sent() - sentBefore).toBe(4); // a->b, b->c, c->b, b->a
    for (const x of [ba, bb, bc]) expect(Object.values(x.core.stats.rejected).reduce((p, q) => p + q, 0)).toBe(0);
  });

  test('session - a peer presenting another identity is refused and nothing else is touched', async () => {
    const a = pki.domain('dom-p');
    const b = pki.domain('dom-q');
    const rogue = pki.domain('dom-q', { cn: 'dom-evil' }); // right CA, wrong name
    const foreign = pki.domain('dom-q', { ca: 'other' }); // right name, other CA
    const server = await start(a, { peers: [pin(pki, b)], inventory: inventoryFor('dom-p', ['dom-q']) });
    const good = await start(b, { peers: [pin(pki, a, server.address)], inventory: inventoryFor('dom-q', ['dom-p']) });
    await waitFor('good session', () => server.core.peerViews()[0]!.state === 'established');
    const evil = await start(rogue, { peers: [pin(pki, a, server.address)] });
    await waitFor('rogue refused', () => (server.core.stats.sessionsRefused['identity-mismatch'] ?? 0) >= 1);
    expect(evil.core.peerViews()[0]!.state).not.toBe('established');
    // the other CA fails already in the TLS handshake: the dialer never gets established
    const other = await start(foreign, { peers: [pin(pki, a, server.address)] });
    await waitFor('the foreign dial to fail', () => other.core.peerViews()[0]!.attempts > 0);
    expect(other.core.peerViews()[0]!.state).not.toBe('established');
    expect(server.core.peerViews()[0]!.brokerId).toBe('dom-q-1');
    // the genuine session is untouched
    expect(server.core.peerViews()[0]!.state).toBe('established');
    expect(good.core.peerViews()[0]!.state).toBe('established');
    expect(new X509Certificate(rogue.certPem).subject).toContain('dom-evil');
  });

  test('session - a dialer pins the server: a server with another identity is refused before Open', async () => {
    const a = pki.domain('dom-s');
    const impostor = pki.domain('dom-impostor');
    const real = pki.domain('dom-t');
    const srv = await start(impostor, { peers: [pin(pki, real)] });
    // dom-t dials the impostor's address believing it is dom-s
    const dialer = await start(real, { peers: [pin(pki, a, srv.address)] });
    await waitFor('the dial to fail', () => dialer.core.peerViews()[0]!.lastError !== null);
    expect(dialer.core.peerViews()[0]!.lastError).toMatch(/cannot connect to dom-s/);
    expect(dialer.core.peerViews()[0]!.state).not.toBe('established');
    expect(srv.core.peerViews()[0]!.state).toBe('idle');
  });

  test('session - rejected advertisements are counted by reason and the session stays up', async () => {
    const a = pki.domain('dom-x');
    const b = pki.domain('dom-y');
    const x = await start(a, { peers: [pin(pki, b)], inventory: inventoryFor('dom-x', ['dom-y']) });
    const y = await start(b, { peers: [pin(pki, a, x.address)], inventory: inventoryFor('dom-y', ['dom-x']) });
    await waitFor('converged', () => x.core.adverts().length === 2);
    const held = x.core.table.get('dom-y')!;
    const forged = { ...held, envelope: { ...held.envelope, body: { ...held.envelope.body, borders: ['b1', 'b2', 'b3'] } } };
    expect(x.core.receiveAdvert(Buffer.from(JSON.stringify(forged)), 'dom-y')).toMatchObject({ reason: 'bad-signature', close: false });
    const now = Date.now();
    const expired = signAdvert({ origin: 'dom-y', seq: held.envelope.seq + 10, issuedAt: now - 20_000, expiresAt: now - 10_000, body: held.envelope.body }, b.advertKeyPem);
    expect(x.core.receiveAdvert(Buffer.from(JSON.stringify(expired)), 'dom-y')?.reason).toBe('expired');
    expect(x.core.receiveAdvert(Buffer.from('{"nope":1}'), 'dom-y')?.reason).toBe('malformed');
    expect(x.core.stats.rejected).toMatchObject({ 'bad-signature': 1, expired: 1, malformed: 1 });
    expect(x.core.table.get('dom-y')!.signature).toBe(held.signature);
    expect(x.core.peerViews()[0]!.state).toBe('established');
    void y;
  });

  test('session - a pinned certificate fingerprint admits that certificate only', async () => {
    const a = pki.domain('dom-f');
    const good = pki.domain('dom-g');
    const sameNameOtherCert = pki.domain('dom-g'); // same CA and name, another key pair
    const fp = new X509Certificate(good.certPem).fingerprint256; // AB:CD:... as operators copy it
    expect(normaliseFingerprint(`sha256:${fp}`)).toBe(fp.replace(/:/g, '').toLowerCase());
    expect(normaliseFingerprint('abc')).toBeUndefined();
    const srv = await start(a, { peers: [pin(pki, good, undefined, { certSha256: normaliseFingerprint(fp) })] });
    const other = await start(sameNameOtherCert, { peers: [pin(pki, a, srv.address)] });
    await waitFor('the other certificate refused', () => (srv.core.stats.sessionsRefused['identity-mismatch'] ?? 0) >= 1);
    expect(other.core.peerViews()[0]!.state).not.toBe('established');
    await other.stop();
    const ok = await start(good, { peers: [pin(pki, a, srv.address)] });
    // both ends: the dialer is established only once the server's Open reached it
    await waitFor('the pinned certificate established at the server', () => srv.core.peerViews()[0]!.state === 'established');
    await waitFor('the pinned certificate established at the dialer', () => ok.core.peerViews()[0]!.state === 'established');
    expect(checkPeerCertificate(new X509Certificate(sameNameOtherCert.certPem).raw, { domain: 'dom-g', caPem: pki.caPem, certSha256: normaliseFingerprint(fp) })).toMatch(/not the pinned sha256:/);
    expect(checkPeerCertificate(undefined, { domain: 'dom-g', caPem: pki.caPem })).toMatch(/presented no TLS certificate/);
  });

  test('session - reconnect backoff is capped, exponential and jittered', () => {
    const o = { initialMs: 100, maxMs: 1000 };
    expect(backoffDelay(0, o, () => 0)).toBe(50);
    expect(backoffDelay(0, o, () => 1)).toBe(100);
    expect(backoffDelay(3, o, () => 1)).toBe(800);
    expect(backoffDelay(10, o, () => 1)).toBe(1000);
    expect(backoffDelay(10, o, () => 0)).toBe(500);
  });
});
