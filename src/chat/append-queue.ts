import type { Pool } from '../db/pool.ts';
import {
  type AppendInput,
  ChatRepository,
  DuplicateInBatchError,
  type MessageRow,
  storedRow,
} from './chat.repository.ts';

/** At most this many messages, and about this many ciphertext bytes, per statement. */
const MAX_BATCH = 32;
const MAX_BATCH_BYTES = 512 * 1024;

interface Waiting {
  input: AppendInput;
  resolve: (row: MessageRow | undefined) => void;
  reject: (err: unknown) => void;
}

interface ChatLane {
  waiting: Waiting[];
  /** Statements of this chat under way (the second one waits for the chat's row lock). */
  inFlight: number;
  scheduled: boolean;
}

/**
 * Statements per chat at a time: while one commits, the next already waits for the row lock in
 * PostgreSQL (handed over there, without a round trip to this process), and whatever arrives
 * meanwhile gathers for the one after.
 */
const LANE_DEPTH = 2;

/**
 * Appends of this node, one statement at a time per chat. Each chat's messages are serialised by
 * its row lock in PostgreSQL anyway; waiting for that lock here instead of there keeps pool
 * connections for other chats, and whatever queued up meanwhile goes in the next statement
 * together (one commit, one chat-row update). Nothing waits for a batch to fill: a message
 * arriving when its chat is idle is sent at once. Per message the outcome is the one of
 * `ChatRepository.appendMessage`: the stored row, or undefined when a condition failed
 * (not a member, stale epoch, id taken) for the caller to explain.
 */
export class AppendQueue {
  private readonly repo: ChatRepository;
  private readonly lanes = new Map<string, ChatLane>();

  constructor(
    pool: Pool,
    /** Called with each statement's stored rows, in seq order, before their callers resume. */
    private readonly onAppended: (rows: MessageRow[]) => Promise<void>,
  ) {
    this.repo = new ChatRepository(pool);
  }

  append(input: AppendInput): Promise<MessageRow | undefined> {
    return new Promise((resolve, reject) => {
      let lane = this.lanes.get(input.chatId);
      if (!lane) {
        lane = { waiting: [], inFlight: 0, scheduled: false };
        this.lanes.set(input.chatId, lane);
      }
      lane.waiting.push({ input, resolve, reject });
      if (!lane.scheduled && lane.inFlight < LANE_DEPTH) {
        lane.scheduled = true;
        const l = lane;
        // After the current job: appends of the same tick (one socket read) share a statement.
        queueMicrotask(() => this.pump(input.chatId, l));
      }
    });
  }

  /** Starts statements for what waits, up to LANE_DEPTH at a time for the chat. */
  private pump(chatId: string, lane: ChatLane): void {
    lane.scheduled = false;
    while (lane.waiting.length > 0 && lane.inFlight < LANE_DEPTH) {
      const batch = take(lane.waiting);
      lane.inFlight++;
      void this.appendBatch(chatId, batch).finally(() => {
        lane.inFlight--;
        if (lane.waiting.length > 0) this.pump(chatId, lane);
        else if (lane.inFlight === 0 && this.lanes.get(chatId) === lane) this.lanes.delete(chatId);
      });
    }
  }

  private async appendBatch(chatId: string, batch: Waiting[]): Promise<void> {
    // A retry of an id already in this batch goes through as "not appended": its caller then
    // finds the first one stored (or refused) and answers accordingly.
    const seen = new Set<string>();
    const unique: Waiting[] = [];
    const repeats: Waiting[] = [];
    for (const w of batch) {
      if (seen.has(w.input.id)) repeats.push(w);
      else {
        seen.add(w.input.id);
        unique.push(w);
      }
    }
    let rows: (MessageRow | undefined)[];
    try {
      rows = await this.store(chatId, unique);
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    const stored = rows.filter((r): r is MessageRow => r !== undefined);
    stored.sort((a, b) => Number(a.seq) - Number(b.seq));
    // Published before anyone is answered, as when each post published its own message; the
    // chat's next statement does not wait for that. A batch's events leave in seq order; two
    // statements of a chat finishing out of order are put right by the hub's gap fill.
    const published = stored.length ? this.onAppended(stored).catch(() => undefined) : undefined;
    const answer = () => {
      for (const [i, w] of unique.entries()) w.resolve(rows[i]);
      for (const w of repeats) w.resolve(undefined);
    };
    if (published) void published.then(answer);
    else answer();
  }

  /** Rows for `batch`, in its order (undefined: not appended). */
  private async store(chatId: string, batch: Waiting[]): Promise<(MessageRow | undefined)[]> {
    if (batch.length === 1) return [await this.repo.appendMessage(batch[0]!.input)];
    const inputs = batch.map((w) => w.input);
    try {
      const got = await this.repo.appendMessages(chatId, inputs);
      return inputs.map((m) => {
        const r = got.get(m.id);
        return r ? storedRow(m, r.seq, r.created_at) : undefined;
      });
    } catch (err) {
      if (!(err instanceof DuplicateInBatchError)) throw err;
      // An id of the batch was stored meanwhile by someone else: nothing of it was appended.
      // One by one, each message gets its own answer (and the others are not held back).
      const out: (MessageRow | undefined)[] = [];
      for (const m of inputs) out.push(await this.repo.appendMessage(m));
      return out;
    }
  }
}

/** The head of the queue, up to the batch limits (always at least one message). */
function take(waiting: Waiting[]): Waiting[] {
  let bytes = 0;
  let n = 0;
  while (n < waiting.length && n < MAX_BATCH) {
    bytes += waiting[n]!.input.ciphertext.byteLength;
    if (n > 0 && bytes > MAX_BATCH_BYTES) break;
    n++;
  }
  return waiting.splice(0, n);
}
