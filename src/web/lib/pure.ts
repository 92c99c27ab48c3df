/** The app's pure logic, kept apart from the DOM and the SDK so unit tests can reach it. */
import type { ChatMessage } from '../../client/index.ts';

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
