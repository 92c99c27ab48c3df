import { type Pool, withTransaction } from '../db/pool.ts';

const SQL = {
  // Transaction-scoped: released at commit, rollback, or when the connection dies.
  lock: `SELECT pg_advisory_xact_lock(hashtextextended('agent-chain:' || $1 || ':' || $2 || ':' || $3, 0))`,
} as const;

/**
 * Serialises an agent's posts to one chat across every node: reading the chain head, sealing the
 * next link and inserting it happen under one PostgreSQL advisory lock per (owner, agent, chat),
 * so two concurrent calls cannot both extend the same head (a forked chain, one counter twice).
 *
 * The lock holds a pool connection while `fn` needs others, so: calls for one key queue in
 * process first (one held connection per key per node), and at most half the pool holds locks
 * at once — the rest stays free for the work under the locks, so the pool cannot deadlock.
 */
export class AgentChainLocks {
  private readonly tails = new Map<string, Promise<unknown>>();
  private readonly waiting: (() => void)[] = [];
  private holders = 0;
  private readonly maxHolders: number;

  constructor(private readonly pool: Pool) {
    const max = (pool as { options?: { max?: number } }).options?.max ?? 10;
    this.maxHolders = Math.max(1, Math.floor(max / 2));
  }

  run<T>(ownerId: string, agentName: string, chatId: string, fn: () => Promise<T>): Promise<T> {
    const key = `${ownerId}\u0000${agentName}\u0000${chatId}`;
    const prev = this.tails.get(key) ?? Promise.resolve();
    const mine = prev
      .catch(() => undefined)
      .then(() => this.locked(ownerId, agentName, chatId, fn));
    const tail = mine.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return mine;
  }

  private async locked<T>(
    ownerId: string,
    agentName: string,
    chatId: string,
    fn: () => Promise<T>,
  ): Promise<T> {
    if (this.holders >= this.maxHolders) await new Promise<void>((r) => this.waiting.push(r));
    this.holders++;
    try {
      return await withTransaction(
        this.pool,
        async (tx) => {
          await tx.query(SQL.lock, [ownerId, agentName, chatId]);
          return fn();
        },
        1,
      );
    } finally {
      this.holders--;
      this.waiting.shift()?.();
    }
  }
}
