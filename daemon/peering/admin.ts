/**
 * The local admin endpoint: HTTP JSON on a loopback address, read by
 * `qos-broker peers|domains|adverts`. No authentication: the config refuses
 * a non-loopback admin.listen. Operations that act (e.g. POST /v1/order) take
 * a JSON body and are registered by the daemon in `post`.
 */
import { createServer, type Server } from 'node:http';
import type { PeeringCore } from './peering-core.js';
import { ERRORS } from '../errors.js';

/** An admin request besides its path. */
export interface AdminRequest {
  method: 'GET' | 'POST';
  /** Request body (POST), UTF-8. */
  body?: string;
}

/** A POST operation: the parsed JSON body in, a status and JSON body out. */
export type AdminOperation = (body: unknown) => Promise<{ status: number; body: unknown }>;

/** Largest POST body accepted, bytes. */
const MAX_BODY = 1024 * 1024;

/** GET /v1/peers, /v1/domains, /v1/adverts, /v1/status; POST the paths in `post`. */
export function adminHandler(getCore: () => PeeringCore | undefined, status: () => Record<string, unknown>, post: Record<string, AdminOperation> = {}) {
  return (path: string, req: AdminRequest = { method: 'GET' }): { status: number; body: unknown } | Promise<{ status: number; body: unknown }> => {
    const core = getCore();
    if (!core) return { status: 503, body: { error: 'starting' } };
    const op = post[path];
    if (req.method === 'POST' || op) {
      if (!op) {
        const known = ['/v1/peers', '/v1/domains', '/v1/adverts', '/v1/status'].includes(path);
        return known ? { status: 405, body: { error: `${path} takes GET` } } : { status: 404, body: { error: `no POST operation at ${path} on this daemon (orders and quotes are taken by provider daemons: POST /v1/order, /v1/quote)` } };
      }
      if (req.method !== 'POST') return { status: 405, body: { error: `${path} takes POST with a JSON body` } };
      let parsed: unknown;
      try {
        parsed = JSON.parse(req.body ?? '');
      } catch (err) {
        return { status: ERRORS.QB_INVALID_ARGUMENT.http, body: { error: `the body of POST ${path} must be JSON: ${(err as Error).message}`, code: 'QB_INVALID_ARGUMENT' } };
      }
      return op(parsed);
    }
    switch (path) {
      case '/v1/peers':
        return { status: 200, body: { domain: core.domain, peers: core.peerViews() } };
      case '/v1/domains':
        return { status: 200, body: { domain: core.domain, domains: core.domainViews() } };
      case '/v1/adverts':
        return { status: 200, body: { domain: core.domain, adverts: core.adverts() } };
      case '/v1/status':
        return { status: 200, body: status() };
      default:
        return { status: 404, body: { error: `unknown path ${path}; try /v1/peers, /v1/domains, /v1/adverts, /v1/status` } };
    }
  };
}

type Answer = { status: number; body: unknown; type?: string };

/** Listen on host:port; `route` answers GET (and POST, with the body read) requests by path. Resolves with the bound port. */
export async function listenHttp(listen: string, route: (path: string, req: AdminRequest) => Promise<Answer> | Answer): Promise<{ server: Server; port: number }> {
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(listen.slice(i + 1));
  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'POST') {
      res.writeHead(405, { allow: 'GET, POST' }).end();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const answer = () => {
      const r = req.method === 'POST' ? ({ method: 'POST', body: Buffer.concat(chunks).toString('utf8') } as const) : ({ method: 'GET' } as const);
      Promise.resolve(route(new URL(req.url ?? '/', 'http://x').pathname, r)).then(
        (a) => {
          const text = typeof a.body === 'string' ? a.body : `${JSON.stringify(a.body)}\n`;
          res.writeHead(a.status, { 'content-type': a.type ?? 'application/json' }).end(text);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'application/json' }).end(`${JSON.stringify({ error: err instanceof Error ? err.message : String(err) })}\n`);
        },
      );
    };
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        res.writeHead(413, { 'content-type': 'application/json' }).end(`${JSON.stringify({ error: `request body over ${MAX_BODY} bytes` })}\n`);
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', answer);
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(port, host, () => res());
  });
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr ? addr.port : port };
}
