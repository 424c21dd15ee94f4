/**
 * Mutual TLS for broker-to-broker gRPC and the identity pin of each peer.
 *
 * A peer is pinned by its domain id plus the CA that issued its certificate
 * (or its self-signed certificate) and, optionally, the SHA-256 fingerprint of
 * its certificate. A certificate is that peer's identity only if it was issued
 * by the pinned CA, names the domain id (subject CN or a DNS/URI subjectAltName)
 * and, when a fingerprint is pinned, has exactly that fingerprint. TLS itself
 * checks the chain; checkPeerCertificate checks the rest, on both sides.
 */
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';

/** What is pinned for one peer. */
export interface PeerPin {
  domain: string;
  /** PEM of the CA that issued the peer's certificate (or the certificate itself if self-signed). */
  caPem: Buffer;
  /** SHA-256 fingerprint of the peer's certificate (DER), lower-case hex without colons. @default not pinned */
  certSha256?: string;
}

/** Our own certificate and key (PEM). The key is a secret: never logged. */
export interface OwnTls {
  certPem: Buffer;
  keyPem: Buffer;
}

/** `sha256:AB:CD...`, `AB:CD...` or hex: lower-case hex without colons, or undefined if it is not 32 bytes of hex. */
export function normaliseFingerprint(s: string): string | undefined {
  const hex = s.replace(/^sha256:/i, '').replace(/:/g, '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
}

/** Domain-like names a certificate is issued to: subject CN, DNS and URI subjectAltNames. */
export function certificateNames(cert: X509Certificate): string[] {
  const names: string[] = [];
  for (const line of cert.subject.split('\n')) if (line.startsWith('CN=')) names.push(line.slice(3));
  for (const part of (cert.subjectAltName ?? '').split(/,\s*/)) {
    const m = /^(DNS|URI):(.+)$/.exec(part);
    if (m) names.push(m[2]!);
  }
  return [...new Set(names)];
}

/** Why `raw` (DER) is not the pinned identity of `pin`, or undefined if it is. */
export function checkPeerCertificate(raw: Buffer | undefined, pin: PeerPin): string | undefined {
  if (!raw || raw.length === 0) return `peer ${pin.domain} presented no TLS certificate`;
  let cert: X509Certificate;
  let ca: X509Certificate;
  try {
    cert = new X509Certificate(raw);
    ca = new X509Certificate(pin.caPem);
  } catch (err) {
    return `cannot read the certificate of peer ${pin.domain}: ${err instanceof Error ? err.message : String(err)}`;
  }
  const fp = cert.fingerprint256.replace(/:/g, '').toLowerCase();
  if (pin.certSha256 && fp !== pin.certSha256) {
    return `peer ${pin.domain} presented certificate sha256:${fp}, not the pinned sha256:${pin.certSha256}`;
  }
  const selfPinned = cert.fingerprint256 === ca.fingerprint256;
  if (!selfPinned && !(cert.checkIssued(ca) && cert.verify(ca.publicKey))) {
    return `the certificate presented for ${pin.domain} (subject ${cert.subject.replace(/\n/g, ', ')}) is not issued by the CA pinned for ${pin.domain}`;
  }
  const names = certificateNames(cert);
  if (!names.includes(pin.domain)) {
    return `the certificate presented for ${pin.domain} is issued to ${names.join(', ') || 'no name'}, not to ${pin.domain}`;
  }
  return undefined;
}

/** Client credentials to dial `pin`'s broker: our certificate, its CA, and the identity check. */
export function clientCredentials(own: OwnTls, pin: PeerPin): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(pin.caPem, own.keyPem, own.certPem, {
    checkServerIdentity: (_host, cert) => {
      const why = checkPeerCertificate(cert.raw, pin);
      return why ? new Error(why) : undefined;
    },
  });
}

/** Server credentials: our certificate; a client certificate is required and must chain to one of the pinned CAs. */
export function serverCredentials(own: OwnTls, pins: PeerPin[]): grpc.ServerCredentials {
  const cas = Buffer.concat(dedupe(pins.map((p) => p.caPem)).flatMap((c) => [c, Buffer.from('\n')]));
  return grpc.ServerCredentials.createSsl(cas.length ? cas : own.certPem, [{ cert_chain: own.certPem, private_key: own.keyPem }], true);
}

function dedupe(bufs: Buffer[]): Buffer[] {
  const seen = new Set<string>();
  return bufs.filter((b) => {
    const k = b.toString('base64');
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** A stable key for the set of CAs, to know when server credentials must be rebuilt. */
export function caSetKey(pins: PeerPin[]): string {
  return dedupe(pins.map((p) => p.caPem))
    .map((b) => b.toString('base64'))
    .sort()
    .join('|');
}
