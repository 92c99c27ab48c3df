/**
 * `npm run bench`: runs every `bench/<name>/index.ts` (or only those named on the command line)
 * in its own process, one after the other so they do not compete for the two cores.
 * Each benchmark measures a baseline in the same run, prints ratios, and writes
 * `bench/results/<name>.json` plus a markdown table; then BENCHMARKS.md gathers them all
 * (bench/report.ts). `--report` only rebuilds BENCHMARKS.md from the last results.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeReport } from './report.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const reportOnly = args.includes('--report');
const wanted = args.filter((a) => !a.startsWith('--'));
const resultsDir = path.join(here, 'results');
const reportPath = path.join(here, '..', 'BENCHMARKS.md');
if (reportOnly) {
  writeReport(resultsDir, reportPath);
  process.exit(0);
}
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
// One table for every benchmark's latest results, failed runs included (their old figures stay).
writeReport(resultsDir, reportPath);
process.exit(failed ? 1 : 0);
