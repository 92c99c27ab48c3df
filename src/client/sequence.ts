/**
 * Per-sender chain checks on the receiving side. Each sender device signs (chain id, counter,
 * hash of its previous message) into every message, so the server can drop, reorder or replay
 * messages but cannot hide having done it. This keeps, per chain, the highest position seen
 * (persisted in the key store) and, for this session, which message held which position.
 */
import { base64Encode } from '../crypto/bytes.ts';
import type { ChainLink } from '../crypto/messages.ts';
import type { SeenPosition } from './keystore.ts';
import type { SequenceStatus } from './types.ts';

interface Known {
  id: string;
  hash: string;
  prev: string;
  seq: number;
}

interface Chain {
  high: SeenPosition | undefined;
  byCounter: Map<number, Known>;
}

export class SequenceTracker {
  private readonly chains = new Map<string, Chain>();
  private readonly seqOfId = new Map<string, number>();
  dirty = false;

  constructor(seen: Record<string, SeenPosition>) {
    for (const [k, v] of Object.entries(seen))
      this.chains.set(k, { high: v, byCounter: new Map() });
  }

  snapshot(): Record<string, SeenPosition> {
    const out: Record<string, SeenPosition> = {};
    for (const [k, c] of this.chains) if (c.high) out[k] = c.high;
    return out;
  }

  /** Where a verified message sits in its sender's chain. */
  place(
    senderId: string,
    view: { id: string; seq: number },
    link: ChainLink,
    hashBytes: Uint8Array,
  ): { sequence: SequenceStatus; missing?: number } {
    const key = `${senderId}/${base64Encode(link.chainId)}`;
    const hash = base64Encode(hashBytes);
    const prev = base64Encode(link.prev);
    const c = link.counter;
    const seenSeq = this.seqOfId.get(view.id);
    if (seenSeq !== undefined) {
      return { sequence: seenSeq === view.seq ? 'in-order' : 'replayed' };
    }
    let chain = this.chains.get(key);
    if (!chain) {
      chain = { high: undefined, byCounter: new Map() };
      this.chains.set(key, chain);
    }
    const known = chain.byCounter.get(c);
    if (known && known.id !== view.id) return { sequence: 'replayed' };
    let result: { sequence: SequenceStatus; missing?: number };
    const high = chain.high;
    const before = chain.byCounter.get(c - 1);
    const after = chain.byCounter.get(c + 1);
    if ((after && after.seq < view.seq) || (before && before.seq > view.seq)) {
      // Served in another order than its sender wrote it, relative to neighbours we hold.
      result = { sequence: 'reordered' };
    } else if (before && before.hash !== prev) {
      result = { sequence: 'forked' };
    } else if (!high) {
      result = { sequence: 'in-order' };
    } else if (c === high.counter + 1) {
      result = { sequence: prev === high.hash ? 'in-order' : 'forked' };
    } else if (c > high.counter + 1) {
      result = { sequence: 'gap', missing: c - high.counter - 1 };
    } else if (c === high.counter && hash === high.hash) {
      result = { sequence: view.seq === high.seq ? 'in-order' : 'replayed' };
    } else if (view.seq > high.seq) {
      // An earlier position served after a later one.
      result = { sequence: 'reordered' };
    } else {
      // Older history (paging backwards): it must link to what follows it, if we hold that.
      const next = chain.byCounter.get(c + 1);
      result = { sequence: next && next.prev !== hash ? 'forked' : 'in-order' };
    }
    chain.byCounter.set(c, { id: view.id, hash, prev, seq: view.seq });
    this.seqOfId.set(view.id, view.seq);
    if (!high || c > high.counter) {
      chain.high = { counter: c, hash, seq: view.seq };
      this.dirty = true;
    }
    return result;
  }
}
