/**
 * The web portal (customers and operators), served by the daemon on the
 * northbound listener at `/portal/`: static files only, from
 * daemon/northbound/portal/ and a fixed table of library files from
 * node_modules (preact, htm, cytoscape, uPlot: no build step). The page
 * holds no data and no secret; the user pastes an API key and the page calls
 * the same REST API as any client, with `Authorization: Bearer`. These are the
 * only routes without a key (config `public`), and they serve nothing but the
 * files of the tables below.
 *
 * Also registers the API resources the portal needs beyond TMF641/TMF638
 * (northbound/portal-api.ts).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { NorthboundError } from '../errors.js';
import { portalApiRoutes, type PortalApiContext } from './portal-api.js';

const TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', mjs: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8', svg: 'image/svg+xml' };

/** The portal's own files (daemon/northbound/portal/). */
const OWN = ['index.html', 'app.js', 'customer.js', 'operator.js', 'api.js', 'style.css', 'favicon.svg'];
/** Library files: served name -> package and file in it. */
const VENDOR: Record<string, [string, string]> = {
  'preact.mjs': ['preact', 'dist/preact.mjs'],
  'preact-hooks.mjs': ['preact', 'hooks/dist/hooks.mjs'],
  'htm.mjs': ['htm', 'dist/htm.mjs'],
  'cytoscape.mjs': ['cytoscape', 'dist/cytoscape.esm.min.mjs'],
  'uplot.mjs': ['uplot', 'dist/uPlot.esm.js'],
  'uplot.css': ['uplot', 'dist/uPlot.min.css'],
};

/** Where the portal's files are: beside this module (sources), or in the sources next to dist/. */
function portalDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const d of [join(here, 'portal'), join(here, '..', '..', '..', 'daemon', 'northbound', 'portal')]) if (existsSync(join(d, 'index.html'))) return d;
  throw new Error(`the portal's files are missing (looked for daemon/northbound/portal/index.html beside ${here})`);
}

function packageDir(req: NodeRequire, pkg: string): string {
  const main = req.resolve(pkg);
  const at = main.lastIndexOf(`/node_modules/${pkg}/`);
  if (at < 0) throw new Error(`cannot find the directory of package ${pkg} (resolved ${main})`);
  return main.slice(0, at + `/node_modules/${pkg}`.length);
}

interface File {
  body: Buffer;
  type: string;
}

/** Every file the portal serves, read once, by URL path. */
function load(): Map<string, File> {
  const out = new Map<string, File>();
  const dir = portalDir();
  for (const f of OWN) out.set(`/portal/${f}`, { body: readFileSync(join(dir, f)), type: TYPES[f.slice(f.lastIndexOf('.') + 1)]! });
  const req = createRequire(import.meta.url);
  for (const [name, [pkg, file]] of Object.entries(VENDOR)) out.set(`/portal/vendor/${name}`, { body: readFileSync(join(packageDir(req, pkg), file)), type: TYPES[name.slice(name.lastIndexOf('.') + 1)]! });
  out.set('/portal/', out.get('/portal/index.html')!);
  return out;
}

/** Content-Security-Policy of the portal: its own origin only, plus the hash of the page's inline import map. */
function csp(index: string): string {
  const m = /<script type="importmap">([\s\S]*?)<\/script>/.exec(index);
  const hash = m ? ` 'sha256-${createHash('sha256').update(m[1]!).digest('base64')}'` : '';
  return `default-src 'self'; script-src 'self'${hash}; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`;
}

/** Register the portal's routes (and the API resources it needs) on the API app. */
export function portalRoutes(app: FastifyInstance, ctx: PortalApiContext): void {
  let files: Map<string, File> | undefined;
  let policy = '';
  const get = () => {
    if (!files) {
      files = load();
      policy = csp(files.get('/portal/')!.body.toString('utf8'));
    }
    return files;
  };
  app.get('/portal', { schema: { hide: true }, config: { public: true } }, async (_req, reply) => reply.redirect('/portal/'));
  app.get('/portal/*', { schema: { hide: true }, config: { public: true } }, async (req, reply) => {
    const f = get().get(req.url.split('?')[0]!);
    if (!f) throw new NorthboundError('QB_NORTHBOUND_NOT_FOUND', `no portal file ${req.url.split('?')[0]}`);
    return reply
      .headers({ 'content-type': f.type, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'content-security-policy': policy })
      .send(f.body);
  });
  portalApiRoutes(app, ctx);
}
