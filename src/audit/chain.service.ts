import type { Logger } from 'pino';
import { base64Encode } from '../crypto/bytes.ts';
import type { GatewayKeys } from '../crypto/grants.ts';
import { type Pool, withTransaction } from '../db/pool.ts';
import { ChainRepository, type CheckpointDbRow } from './chain.repository.ts';
import {
  b64,
  type ChainRow,
  type ChainState,
  type ChainVerdict,
  type Checkpoint,
  linkRows,
  signCheckpoint,
  verifyChain,
} from './chain.ts';
import { EXPORT_FORMAT, type ExportLine } from './export.ts';

/** Rows linked per user per transaction (and so at most this many rows between checkpoints). */
export const SEAL_BATCH = 1000;
const PAGE = 5000;

function checkpointOf(r: CheckpointDbRow): Checkpoint {
  return {
    userId: r.user_id,
    chainIndex: Number(r.chain_index),
    headHash: new Uint8Array(r.head_hash),
    signature: new Uint8Array(r.signature),
  };
}

/**
 * Seals the audit log: links each user's pending rows after their chain head, in insertion
 * order, and signs a checkpoint over the new head with the gateway's Ed25519 key. Safe with
 * several workers (a per-user advisory lock) and idempotent (only pending rows are linked).
 */
export class AuditSealer {
  constructor(
    private readonly pool: Pool,
    private readonly gateway: GatewayKeys,
    private readonly logger: Logger,
  ) {}

  /** One pass; returns how many rows were linked. */
  async sealOnce(): Promise<number> {
    let total = 0;
    const users = await new ChainRepository(this.pool).usersWithPending(100);
    for (const userId of users) total += await this.sealUser(userId);
    if (total) this.logger.debug({ rows: total, users: users.length }, 'audit rows sealed');
    return total;
  }

  private sealUser(userId: string): Promise<number> {
    return withTransaction(this.pool, async (client) => {
      const repo = new ChainRepository(client);
      await repo.lockUser(userId);
      const pending = await repo.pending(userId, SEAL_BATCH);
      if (pending.length === 0) return 0;
      const links = await linkRows(await repo.head(userId), pending);
      await repo.link(links);
      const last = links[links.length - 1]!;
      await repo.insertCheckpoint({
        userId,
        chainIndex: last.chainIndex,
        headHash: last.rowHash,
        gatewayPublic: this.gateway.ed25519.publicKey,
        signature: await signCheckpoint(
          this.gateway.ed25519.privateKey,
          userId,
          last.chainIndex,
          last.rowHash,
        ),
      });
      return links.length;
    });
  }
}

/** Reads the chain back: full verification, per-row states for the API, and the export. */
export class AuditChainService {
  private readonly repo: ChainRepository;

  constructor(
    pool: Pool,
    /** The gateway public key to verify with (from the key file, never from the database). */
    private readonly gatewayEd25519Public: () => Promise<Uint8Array>,
  ) {
    this.repo = new ChainRepository(pool);
  }

  users(): Promise<string[]> {
    return this.repo.usersWithRows();
  }

  /** Verifies a user's whole chain (every linked row, every checkpoint). */
  async verifyUser(userId: string): Promise<ChainVerdict & { pending: number }> {
    // Checkpoints first: the sealer may run meanwhile, and a checkpoint must never be newer than
    // the rows read after it (it would look like rows went missing).
    const checkpoints = (await this.repo.checkpoints(userId)).map(checkpointOf);
    const rows: ChainRow[] = [];
    for (let after = -1; ; ) {
      const page = await this.repo.linkedAfter(userId, after, PAGE);
      rows.push(...page);
      if (page.length < PAGE) break;
      after = page[page.length - 1]!.chainIndex!;
    }
    const pending = await this.repo.pendingOfUser(userId, 1_000_000);
    const verdict = await verifyChain({
      rows: [...rows, ...pending],
      checkpoints,
      gatewayEd25519Public: await this.gatewayEd25519Public(),
    });
    return { ...verdict, pending: pending.length };
  }

  /**
   * The chain state of some of a user's rows: each linked row is verified forward to the
   * checkpoint that covers it (at most `SEAL_BATCH` rows per segment), so `sealed` means
   * "provably unchanged since the gateway signed it"; a row past the last checkpoint is pending.
   */
  async states(userId: string, ids: string[]): Promise<Map<string, ChainState>> {
    const out = new Map<string, ChainState>();
    if (ids.length === 0) return out;
    const rows = await this.repo.byIds(userId, ids);
    const indexes = rows.flatMap((r) => (r.chainIndex === null ? [] : [r.chainIndex]));
    const checkpoints = indexes.length
      ? (await this.repo.covering(userId, Math.min(...indexes), Math.max(...indexes))).map(
          checkpointOf,
        )
      : [];
    const groups = new Map<number, { from: number; cp: Checkpoint | undefined }>();
    for (const r of rows) {
      if (r.chainIndex === null) {
        out.set(r.id, 'pending');
        continue;
      }
      const cp = checkpoints.find((c) => c.chainIndex >= (r.chainIndex as number));
      const key = cp?.chainIndex ?? -1;
      const g = groups.get(key);
      if (!g) groups.set(key, { from: r.chainIndex, cp });
      else g.from = Math.min(g.from, r.chainIndex);
    }
    const pub = await this.gatewayEd25519Public();
    for (const { from, cp } of groups.values()) {
      const to = cp?.chainIndex ?? Number.MAX_SAFE_INTEGER;
      const segment = await this.repo.linkedRange(userId, from, to);
      const v = await verifyChain({
        rows: segment,
        checkpoints: cp ? [cp] : [],
        gatewayEd25519Public: pub,
        fromIndex: from,
      });
      for (const r of segment)
        if (ids.includes(r.id)) out.set(r.id, v.states.get(r.id) ?? 'broken');
    }
    // A requested row that vanished from its segment while we read: call it broken, not sealed.
    for (const r of rows) if (!out.has(r.id)) out.set(r.id, 'broken');
    return out;
  }

  /** Adds each entry's chain state (for `GET /api/audit`). */
  async annotate<E extends { id: string }>(
    userId: string,
    entries: E[],
  ): Promise<Array<E & { chain: ChainState }>> {
    const states = await this.states(
      userId,
      entries.map((e) => e.id),
    );
    return entries.map((e) => ({ ...e, chain: states.get(e.id) ?? 'pending' }));
  }

  /** The export's lines, produced a page at a time (see export.ts for the format). */
  async *exportLines(userId: string): AsyncGenerator<ExportLine> {
    yield {
      type: 'header',
      format: EXPORT_FORMAT,
      version: 1,
      userId,
      gatewayEd25519: base64Encode(await this.gatewayEd25519Public()),
      exportedAt: new Date().toISOString(),
    };
    const line = (r: ChainRow): ExportLine => ({
      type: 'row',
      ...r,
      prevHash: b64(r.prevHash),
      rowHash: b64(r.rowHash),
    });
    // Checkpoints are read first and written last (see verifyUser); a row the sealer links while
    // we read is exported once, as linked.
    const checkpoints = await this.repo.checkpoints(userId);
    const pending = await this.repo.pendingOfUser(userId, 100_000);
    const seen = new Set<string>();
    for (let after = -1; ; ) {
      const page = await this.repo.linkedAfter(userId, after, PAGE);
      for (const r of page) {
        seen.add(r.id);
        yield line(r);
      }
      if (page.length < PAGE) break;
      after = page[page.length - 1]!.chainIndex!;
    }
    for (const r of pending) if (!seen.has(r.id)) yield line(r);
    for (const c of checkpoints) {
      yield {
        type: 'checkpoint',
        chainIndex: Number(c.chain_index),
        headHash: base64Encode(c.head_hash),
        signature: base64Encode(c.signature),
        createdAt: c.created_at.toISOString(),
      };
    }
  }
}
