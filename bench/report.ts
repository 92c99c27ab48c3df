/**
 * Builds BENCHMARKS.md from bench/results/*.json: one table, each figure beside the baseline
 * measured in the same run, the ratio, whether its target is met, and the machine and date of
 * the run that produced it.
 *
 * A benchmark states its figures in a `summary` array (preferred; see SummaryRow). Files from
 * before that convention are read through the few fields they share (`ratioAtMax`, `targets`,
 * `verdict`), and anything else is listed as "no summary" rather than guessed at.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface SummaryRow {
  figure: string;
  value: number;
  unit: string;
  baseline?: string;
  baselineValue?: number;
  /** e.g. "ratio >= 0.5" or "<= 50 ms"; free text, shown as is. */
  target?: string;
  met?: boolean;
}

interface ResultFile {
  date?: string;
  node?: string;
  cpu?: string;
  cpus?: number;
  summary?: SummaryRow[];
  ratioAtMax?: number | null;
  targets?: Record<string, number>;
  verdict?: unknown;
}

const fmt = (n: number | undefined) =>
  n === undefined || Number.isNaN(n) ? '—' : Math.abs(n) >= 100 ? n.toFixed(0) : n.toPrecision(3);

function rowsOf(name: string, r: ResultFile): SummaryRow[] {
  if (Array.isArray(r.summary)) return r.summary;
  if (typeof r.ratioAtMax === 'number') {
    const target = r.targets?.ratioAtMax;
    return [
      {
        figure: `${name}: throughput at max, vutler ÷ baseline`,
        value: r.ratioAtMax,
        unit: 'ratio',
        baseline: 'same-run baseline server',
        target: target === undefined ? undefined : `ratio ≥ ${target}`,
        met: target === undefined ? undefined : r.ratioAtMax >= target,
      },
    ];
  }
  return [];
}

/**
 * The table rows of `previous` (an earlier BENCHMARKS.md) for benchmarks with no result file
 * here: results are not committed, so a run of some benchmarks keeps the others' last figures.
 */
function carriedRows(previous: string, present: Set<string>): Map<string, string[]> {
  const kept = new Map<string, string[]>();
  for (const line of previous.split('\n')) {
    const name = /^\| ([\w-]+) \| /.exec(line)?.[1];
    if (!name || name === 'benchmark' || present.has(name)) continue;
    kept.set(name, [...(kept.get(name) ?? []), line]);
  }
  return kept;
}

export function buildReport(resultsDir: string, previous = ''): string {
  const files = readdirSync(resultsDir)
    .filter((f) => f.endsWith('.json'))
    .sort();
  const carried = carriedRows(previous, new Set(files.map((f) => f.replace(/\.json$/, ''))));
  const lines = [
    '# Benchmarks',
    '',
    "Written by `npm run bench` (or `npm run bench -- --report` to rebuild from the last results) from `bench/results/*.json`; each benchmark's own `bench/results/<name>.md` has the detail. Ratios compare against a baseline measured in the same run on the same machine.",
    '',
    '| benchmark | figure | value | baseline | baseline value | ratio | target | met | machine | date |',
    '|---|---|---:|---|---:|---:|---|---|---|---|',
  ];
  const without: string[] = [];
  const names = [...files.map((f) => f.replace(/\.json$/, '')), ...carried.keys()].sort();
  for (const name of names) {
    const old = carried.get(name);
    if (old) {
      lines.push(...old);
      continue;
    }
    const file = `${name}.json`;
    let r: ResultFile;
    try {
      r = JSON.parse(readFileSync(path.join(resultsDir, file), 'utf8')) as ResultFile;
    } catch {
      without.push(`${file} (unreadable)`);
      continue;
    }
    let rows = rowsOf(name, r);
    if (rows.length === 0) {
      // Still a row: the benchmark ran, its figures are in its own .md.
      without.push(file);
      rows = [
        {
          figure: `no \`summary\` in ${file}: see bench/results/${name}.md`,
          value: Number.NaN,
          unit: '',
        },
      ];
    }
    const machine = `${r.cpus ?? '?'}× ${r.cpu ?? 'unknown'}, ${r.node ?? ''}`.trim();
    const date = r.date?.slice(0, 16).replace('T', ' ') ?? '—';
    for (const row of rows) {
      const ratio =
        row.baselineValue && row.unit !== 'ratio' ? row.value / row.baselineValue : undefined;
      const met = row.met === undefined ? '—' : row.met ? 'yes' : '**no**';
      lines.push(
        `| ${name} | ${row.figure} | ${`${fmt(row.value)} ${row.unit}`.trim()} | ${row.baseline ?? '—'} | ${fmt(row.baselineValue)} | ${fmt(ratio ?? (row.unit === 'ratio' ? row.value : undefined))} | ${row.target ?? '—'} | ${met} | ${machine} | ${date} |`,
      );
    }
  }
  if (names.length === 0) lines.push('', 'No results yet: run `npm run bench`.');
  if (without.length)
    lines.push('', `Results without a \`summary\` (see their .md): ${without.join(', ')}.`);
  return `${lines.join('\n')}\n`;
}

export function writeReport(resultsDir: string, out: string): void {
  writeFileSync(out, buildReport(resultsDir, existsSync(out) ? readFileSync(out, 'utf8') : ''));
  console.log(`wrote ${out}`);
}
