/**
 * The local admin endpoint: HTTP JSON on a loopback address, read by
 * `qos-broker peers|domains|adverts`. No authentication: the config refuses
 * a non-loopback admin.listen.
 */
import { createServer, type Server } from 'node:http';
import type { PeeringCore } from './broker.js';

/** GET /v1/peers, /v1/domains, /v1/adverts, /v1/status. */
export function adminHandler(getCore: () => PeeringCore | undefined, status: () => Record<string, unknown>) {
  return (path: string): { status: number; body: unknown } => {
    const core = getCore();
    if (!core) return { status: 503, body: { error: 'starting' } };
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

/** Listen on host:port; `route` answers GET requests by path. Resolves with the bound port. */
export async function listenHttp(listen: string, route: (path: string) => Promise<{ status: number; body: unknown; type?: string }> | { status: number; body: unknown; type?: string }): Promise<{ server: Server; port: number }> {
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(listen.slice(i + 1));
  const server = createServer((req, res) => {
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    Promise.resolve(route(new URL(req.url ?? '/', 'http://x').pathname)).then(
      (r) => {
        const text = typeof r.body === 'string' ? r.body : `${JSON.stringify(r.body)}\n`;
        res.writeHead(r.status, { 'content-type': r.type ?? 'application/json' }).end(text);
      },
      (err: unknown) => {
        res.writeHead(500, { 'content-type': 'application/json' }).end(`${JSON.stringify({ error: err instanceof Error ? err.message : String(err) })}\n`);
      },
    );
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(port, host, () => res());
  });
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr ? addr.port : port };
}
