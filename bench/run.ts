/**
 * `npm run bench`: runs every `bench/<name>/index.ts` (or only those named on the command line)
 * in its own process, one after the other so they do not compete for the two cores.
 * Each benchmark measures a baseline in the same run, prints ratios, and writes
 * `bench/results/<name>.json` plus a markdown table.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const suites = readdirSync(here, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(path.join(here, d.name, 'index.ts')))
  .map((d) => d.name)
  .filter((name) => wanted.length === 0 || wanted.includes(name));

if (suites.length === 0) {
  console.error(wanted.length ? `No benchmark named ${wanted.join(', ')}` : 'No benchmarks found');
  process.exit(1);
}
let failed = 0;
for (const name of suites) {
  console.log(`\n## bench/${name}\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, name, 'index.ts')], {
    stdio: 'inherit',
  });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
