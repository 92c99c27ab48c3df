/** The app's pure logic, kept apart from the DOM and the SDK so unit tests can reach it. */
import type { ChatMessage } from '../../client/index.ts';
import { agentName as agentNameSchema, uuid as uuidSchema } from '../../http/schemas.ts';

/** Messages by seq, each once: the merge that makes replays and races harmless. */
export function mergeMessages(a: ChatMessage[], b: ChatMessage[]): ChatMessage[] {
  const bySeq = new Map<number, ChatMessage>();
  for (const m of a) bySeq.set(m.seq, m);
  for (const m of b) bySeq.set(m.seq, m);
  return [...bySeq.values()].sort((x, y) => x.seq - y.seq);
}

/** The `@word` being typed just before the caret, if any. */
export function mentionAt(
  text: string,
  caret: number,
): { start: number; query: string } | undefined {
  const m = /(^|\s)@([a-z0-9_.-]*)$/i.exec(text.slice(0, caret));
  if (!m) return undefined;
  return { start: caret - m[2]!.length - 1, query: m[2]!.toLowerCase() };
}

const MENTION = /(?:^|\s)@([a-z0-9][a-z0-9_.-]{0,99})(?![a-z0-9_.-])/g;

/** Agents named with `@name` in a message, limited to the agents this person knows of. */
export function mentionsIn(text: string, agents: Iterable<string>): string[] {
  const known = new Set(agents);
  // A trailing "." or "-" is the sentence's, not the name's: "ask @claude."
  const names = [...text.matchAll(MENTION)].map((m) => m[1]!.replace(/[.-]+$/, ''));
  return [...new Set(names)].filter((n) => known.has(n));
}

/** One agent run a mention started, as its `agent.status` events tell it. */
export interface AgentRun {
  runId: string;
  chatId: string;
  agentName: string;
  /** The message that mentioned the agent. */
  messageId: string;
  status: 'queued' | 'thinking' | 'tool' | 'done' | 'failed';
  /** The tools the model called, in order. */
  tools: string[];
  code?: string;
  reason?: string;
  replyId?: string;
  at: string;
}

export type AgentStatusLike = Omit<AgentRun, 'tools'> & { tool?: string };

const PHASE: Record<AgentRun['status'], number> = {
  queued: 0,
  thinking: 1,
  tool: 2,
  done: 3,
  failed: 3,
};

/**
 * Folds one `agent.status` event into the run. The relay's `queued` and the worker's events come
 * from different processes and may cross: a run never goes back to an earlier phase, and once
 * done or failed it stays so (a replayed event changes nothing).
 */
export function applyAgentStatus(prev: AgentRun | undefined, ev: AgentStatusLike): AgentRun {
  const tools = prev?.tools ?? [];
  const withTool = ev.status === 'tool' && ev.tool ? [...tools, ev.tool] : tools;
  if (prev && (PHASE[ev.status] < PHASE[prev.status] || PHASE[prev.status] === 3)) {
    // A late tool event still names a tool the model used.
    return withTool === tools ? prev : { ...prev, tools: withTool };
  }
  const { tool: _tool, ...rest } = ev;
  return { ...prev, ...rest, tools: withTool };
}

/** Failure codes that mean "this agent may not read or post here": the Agents page fixes them. */
export const GRANT_FAILURES = new Set(['no-grant', 'grant-expired', 'bad-grant', 'no-write']);

/** What a person reads for a run's state. */
export function describeRun(run: AgentRun): string {
  const name = `@${run.agentName}`;
  switch (run.status) {
    case 'queued':
      return `${name} is queued…`;
    case 'thinking':
      return `${name} is thinking…`;
    case 'tool':
      return `${name} is using ${run.tools[run.tools.length - 1] ?? 'a tool'}…`;
    case 'done':
      return `${name} replied`;
    case 'failed':
      return `${name} could not answer: ${run.reason ?? run.code ?? 'unknown reason'}`;
  }
}

/** Where a person grants an agent this chat: the Agents page, told which chat and agent. */
export function agentsLink(chatId: string, agentName: string): string {
  return `#/agents?${new URLSearchParams({ chat: chatId, agent: agentName }).toString()}`;
}

/** What an Agents page link asks for: the agent to pick and the chat to show. */
export interface AgentsLinkTarget {
  agent?: string;
  chat?: string;
}

/**
 * The inverse of `agentsLink`, from the route's query (`#/agents?chat=<id>&agent=<name>`). A link
 * is typed or pasted as often as clicked: a value that is not a valid agent name or chat id is
 * left out (the page then opens as without it), never passed on.
 */
export function agentsLinkTarget(params: URLSearchParams): AgentsLinkTarget {
  const out: AgentsLinkTarget = {};
  const agent = agentNameSchema.safeParse(params.get('agent'));
  if (agent.success) out.agent = agent.data;
  const chat = uuidSchema.safeParse(params.get('chat'));
  if (chat.success) out.chat = chat.data.toLowerCase();
  return out;
}

/** One CSV field (RFC 4180), with spreadsheet formulas defused. */
export function csvField(v: string | number | boolean | null | undefined): string {
  let s = v === null || v === undefined ? '' : String(v);
  // A cell starting with = + - @ is run as a formula by spreadsheets: keep it text.
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(header: string[], rows: (string | number | boolean | null)[][]): string {
  return `${[header, ...rows].map((r) => r.map(csvField).join(',')).join('\r\n')}\r\n`;
}
