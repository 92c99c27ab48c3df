import { describe, expect, it } from 'vitest';
import {
  type AgentRun,
  type AgentStatusLike,
  agentsLink,
  applyAgentStatus,
  csvField,
  describeRun,
  toCsv,
} from '../../../src/web/lib/pure.ts';

const ev = (status: AgentRun['status'], extra: Partial<AgentStatusLike> = {}): AgentStatusLike => ({
  runId: 'r1',
  chatId: 'c1',
  agentName: 'claude',
  messageId: 'm1',
  status,
  at: new Date().toISOString(),
  ...extra,
});

const fold = (events: AgentStatusLike[]) =>
  events.reduce<AgentRun | undefined>((run, e) => applyAgentStatus(run, e), undefined)!;

describe('applyAgentStatus', () => {
  it('follows a run through queued, thinking, tools and done, keeping the tools used', () => {
    const run = fold([
      ev('queued'),
      ev('thinking'),
      ev('tool', { tool: 'read_messages' }),
      ev('tool', { tool: 'search_messages' }),
      ev('done', { replyId: 'm2' }),
    ]);
    expect(run).toMatchObject({ status: 'done', replyId: 'm2' });
    expect(run.tools).toEqual(['read_messages', 'search_messages']);
    expect(describeRun(run)).toBe('@claude replied');
  });

  it('never goes back: a late "queued" from the relay does not undo "thinking"', () => {
    const run = fold([ev('thinking'), ev('queued')]);
    expect(run.status).toBe('thinking');
  });

  it('stays failed once failed, and says why', () => {
    const run = fold([
      ev('queued'),
      ev('failed', { code: 'no-grant', reason: 'no grant for this chat' }),
      ev('thinking'),
      ev('done'),
    ]);
    expect(run).toMatchObject({ status: 'failed', code: 'no-grant' });
    expect(describeRun(run)).toBe('@claude could not answer: no grant for this chat');
  });

  it('keeps "failed" when the relay\'s "queued" arrives after it (a worker that failed at once)', () => {
    const run = fold([
      ev('failed', { code: 'no-api-key', reason: 'no Anthropic key configured' }),
      ev('queued'),
    ]);
    expect(run).toMatchObject({ status: 'failed', code: 'no-api-key' });
  });

  it('names the tool in use', () => {
    expect(describeRun(fold([ev('tool', { tool: 'read_file' })]))).toBe(
      '@claude is using read_file…',
    );
  });
});

describe('CSV export', () => {
  it('quotes commas, quotes and newlines, and defuses spreadsheet formulas', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('=HYPERLINK("x")')).toBe('"\'=HYPERLINK(""x"")"');
    expect(csvField('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvField(null)).toBe('');
    expect(csvField(true)).toBe('true');
    expect(toCsv(['a', 'b'], [[1, 'x,y']])).toBe('a,b\r\n1,"x,y"\r\n');
  });
});

describe('agentsLink', () => {
  it('opens the Agents page on that chat and agent', () => {
    expect(agentsLink('c1', 'claude')).toBe('#/agents?chat=c1&agent=claude');
  });
});
