/**
 * The reference of bench/api: a bare node:http server answering the same
 * JSON as the broker's northbound API (read from the file given), GET
 * /service with the list, POST /serviceOrder with the order (after reading
 * and parsing the body). Prints its port on stdout.
 *
 *   node dist/bench/api/bare.js ANSWERS.json
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const answers = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as { list: unknown; order: unknown };
const server = createServer((req, res) => {
  if (req.method === 'GET') {
    const body = JSON.stringify(answers.list);
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'x-total-count': '10000' }).end(body);
    return;
  }
  let b = '';
  req.on('data', (c: Buffer) => (b += c.toString()));
  req.on('end', () => {
    JSON.parse(b);
    const body = JSON.stringify(answers.order);
    res.writeHead(201, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) }).end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
