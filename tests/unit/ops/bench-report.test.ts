import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildReport } from '../../../bench/report.ts';

describe('BENCHMARKS.md report', () => {
  it('puts each figure beside its same-run baseline, ratio, target, machine and date', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bench-'));
    writeFileSync(
      path.join(dir, 'mcp.json'),
      JSON.stringify({
        date: '2026-12-01T08:00:00.000Z',
        node: 'v20.20.2',
        cpu: 'AMD EPYC',
        cpus: 2,
        summary: [
          {
            figure: 'tool calls/s',
            value: 400,
            unit: 'calls/s',
            baseline: 'direct call',
            baselineValue: 1000,
            target: 'ratio ≥ 0.5',
            met: false,
          },
        ],
      }),
    );
    writeFileSync(
      path.join(dir, 'chat.json'),
      JSON.stringify({ ratioAtMax: 0.74, targets: { ratioAtMax: 0.5 }, cpus: 2, cpu: 'X' }),
    );
    writeFileSync(path.join(dir, 'odd.json'), JSON.stringify({ something: 1 }));
    const md = buildReport(dir);
    expect(md).toContain(
      '| mcp | tool calls/s | 400 calls/s | direct call | 1000 | 0.400 | ratio ≥ 0.5 | **no** | 2× AMD EPYC, v20.20.2 | 2026-12-01 08:00 |',
    );
    expect(md).toMatch(/\| chat \| chat: throughput at max.*\| 0\.740 \| ratio ≥ 0\.5 \| yes \|/);
    expect(md).toContain('without a `summary` (see their .md): odd.json');
    // Every benchmark with results has a row, summary or not.
    expect(md).toContain('| odd | no `summary` in odd.json: see bench/results/odd.md | — |');
    for (const name of ['chat', 'mcp', 'odd'])
      expect(md).toMatch(new RegExp(`^\\| ${name} \\|`, 'm'));
  });

  it('keeps the last figures of benchmarks that have no result file here, and replaces the rest', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bench-'));
    writeFileSync(
      path.join(dir, 'mcp.json'),
      JSON.stringify({ summary: [{ figure: 'calls/s', value: 500, unit: 'calls/s' }] }),
    );
    const previous = [
      '| benchmark | figure | value |',
      '|---|---|---:|',
      '| mcp | calls/s | 100 calls/s | old |',
      '| vdrive | upload MB/s | 140 MB/s | kept |',
      '| vdrive | download MB/s | 286 MB/s | kept |',
    ].join('\n');
    const md = buildReport(dir, previous);
    expect(md).not.toContain('| mcp | calls/s | 100 calls/s | old |');
    expect(md).toMatch(/^\| mcp \| calls\/s \| 500 calls\/s/m);
    expect(md).toContain(
      '| vdrive | upload MB/s | 140 MB/s | kept |\n| vdrive | download MB/s | 286 MB/s | kept |',
    );
    // In name order, the carried rows among the fresh ones.
    expect(md.indexOf('| mcp |')).toBeLessThan(md.indexOf('| vdrive |'));
    expect(md).not.toMatch(/^\| benchmark \| figure \| value \|$/m);
  });
});
