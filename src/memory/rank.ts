/**
 * `recall`'s ranking, in process over the decrypted entries of one (user, agent) pair: Okapi
 * BM25 (k1 = 1.2, b = 0.75) over lower-cased Unicode letter/digit tokens of the text and tags,
 * ties broken by recency. No stemming or embeddings: nothing leaves the process to rank.
 */
const K1 = 1.2;
const B = 0.75;

export function tokens(s: string): string[] {
  return s.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

export interface Rankable {
  text: string;
  tags: string[];
  /** Newer first on equal scores. */
  updatedAt: Date;
}

export function rank<T extends Rankable>(
  query: string,
  docs: T[],
  limit: number,
): Array<T & { score: number }> {
  const q = [...new Set(tokens(query))];
  const bags = docs.map((d) => {
    const t = tokens(`${d.text} ${d.tags.join(' ')}`);
    const tf = new Map<string, number>();
    for (const w of t) tf.set(w, (tf.get(w) ?? 0) + 1);
    return { d, tf, len: t.length };
  });
  const n = bags.length;
  const avg = n ? bags.reduce((s, b) => s + b.len, 0) / n : 0;
  const df = new Map<string, number>();
  for (const w of q) df.set(w, bags.filter((b) => b.tf.has(w)).length);
  const scored = bags.map(({ d, tf, len }) => {
    let score = 0;
    for (const w of q) {
      const f = tf.get(w) ?? 0;
      if (!f) continue;
      const dfw = df.get(w) ?? 0;
      const idf = Math.log(1 + (n - dfw + 0.5) / (dfw + 0.5));
      score += (idf * f * (K1 + 1)) / (f + K1 * (1 - B + (B * len) / (avg || 1)));
    }
    return { ...d, score };
  });
  return scored
    .filter((s) => q.length === 0 || s.score > 0)
    .sort((a, b) => b.score - a.score || b.updatedAt.getTime() - a.updatedAt.getTime())
    .slice(0, limit);
}
