#!/usr/bin/env node
// `npm run bench -- NAME [args]`: runs bench/NAME/main.ts (compiled to dist/bench/NAME/main.js).
// Each benchmark prints what it measures and, as its last line, one JSON object
// with its figures and its ratios against a reference measured in the same run.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [name, ...args] = process.argv.slice(2);
const available = readdirSync(join(root, 'bench'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- NAME   (one of: ${available.join(', ')})`);
  process.exit(2);
}
const main = join(root, 'dist', 'bench', name, 'main.js');
if (!existsSync(main)) {
  console.error(`${main} is missing: run npm run build`);
  process.exit(2);
}
const r = spawnSync(process.execPath, [main, ...args], { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
