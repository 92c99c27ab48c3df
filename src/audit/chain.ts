/**
 * The audit hash chain and its checkpoints, as pure functions over plain values: the sealer, the
 * server's per-row state, `vutler audit verify` and the offline verifier of an export all run
 * this one code. Isomorphic (src/crypto only), so a browser can verify an export too.
 *
 *   rowHash(i) = SHA-256("vutler/v1/audit-row" ‖ 0x00 ‖ lp(userId) ‖ lp(u64be i) ‖ lp(prevHash)
 *                        ‖ lp(field)*)         prevHash(0) = 32 zero bytes, prevHash(i) = rowHash(i-1)
 *   field      = 0x00 for null, else 0x01 ‖ utf8(value)   (in the order of `FIELDS` below)
 *   checkpoint = Ed25519(gateway, "vutler/v1/audit-checkpoint/sig" ‖ 0x00 ‖ lp(userId)
 *                        ‖ lp(u64be i) ‖ lp(rowHash(i)))
 */
import {
  type Bytes,
  base64Decode,
  base64Encode,
  concat,
  constantTimeEqual,
  utf8Encode,
} from '../crypto/bytes.ts';
import { domain, Label } from '../crypto/labels.ts';
import { ed25519Sign, ed25519Verify, sha256 } from '../crypto/primitives.ts';

export const GENESIS_HASH: Bytes = new Uint8Array(32);

/** One audit row as it is hashed and exported. All values are the database's text forms. */
export interface ChainRowFields {
  id: string;
  userId: string;
  agentName: string;
  resourceType: string;
  resourceId: string;
  toolName: string | null;
  requestId: string | null;
  outcome: string | null;
  reason: string | null;
  decryptionSuccess: boolean;
  itemCount: number;
  ipAddress: string | null;
  userAgent: string | null;
  /** `YYYY-MM-DDTHH:MM:SS.ffffff`, the stored timestamp to the microsecond. */
  decryptedAt: string;
}

export interface ChainRow extends ChainRowFields {
  /** Null while pending (not yet linked by the sealer). */
  chainIndex: number | null;
  prevHash: Uint8Array | null;
  rowHash: Uint8Array | null;
}

export interface Checkpoint {
  userId: string;
  chainIndex: number;
  headHash: Uint8Array;
  signature: Uint8Array;
}

export type ChainState = 'sealed' | 'pending' | 'broken';

export type BreakReason =
  | 'row-edited'
  | 'broken-link'
  | 'missing-row'
  | 'checkpoint-mismatch'
  | 'bad-signature';

export interface ChainBreak {
  /** The first row that does not verify (null when the row itself is gone). */
  rowId: string | null;
  chainIndex: number;
  reason: BreakReason;
}

export interface ChainVerdict {
  ok: boolean;
  /** Rows linked into the chain. */
  linked: number;
  /** The highest chain index covered by a valid checkpoint, or null. */
  sealedThrough: number | null;
  firstBreak: ChainBreak | null;
  states: Map<string, ChainState>;
}

function u64be(n: number): Bytes {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError('chain index out of range');
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n));
  return b;
}

function opt(v: string | null): Bytes {
  return v === null ? Uint8Array.of(0) : concat(Uint8Array.of(1), utf8Encode(v));
}

const FIELDS = (r: ChainRowFields): Bytes[] => [
  opt(r.id.toLowerCase()),
  opt(r.agentName),
  opt(r.resourceType),
  opt(r.resourceId.toLowerCase()),
  opt(r.toolName),
  opt(r.requestId),
  opt(r.outcome),
  opt(r.reason),
  opt(r.decryptionSuccess ? 'true' : 'false'),
  opt(String(r.itemCount)),
  opt(r.ipAddress),
  opt(r.userAgent),
  opt(r.decryptedAt),
];

export function rowHash(r: ChainRowFields, chainIndex: number, prevHash: Uint8Array) {
  return sha256(
    domain(
      Label.auditRow,
      utf8Encode(r.userId.toLowerCase()),
      u64be(chainIndex),
      prevHash,
      ...FIELDS(r),
    ),
  );
}

function checkpointInput(userId: string, chainIndex: number, headHash: Uint8Array): Bytes {
  return domain(
    Label.auditCheckpointSig,
    utf8Encode(userId.toLowerCase()),
    u64be(chainIndex),
    headHash,
  );
}

export function signCheckpoint(
  gatewaySigningKey: CryptoKey,
  userId: string,
  chainIndex: number,
  headHash: Uint8Array,
): Promise<Bytes> {
  return ed25519Sign(gatewaySigningKey, checkpointInput(userId, chainIndex, headHash));
}

export function verifyCheckpoint(
  gatewayEd25519Public: Uint8Array,
  c: Checkpoint,
): Promise<boolean> {
  return ed25519Verify(
    gatewayEd25519Public,
    c.signature,
    checkpointInput(c.userId, c.chainIndex, c.headHash),
  ).catch(() => false);
}

/** Links pending rows after the current head: returns each row's index, prev hash and hash. */
export async function linkRows(
  head: { chainIndex: number; rowHash: Uint8Array } | null,
  pending: ChainRowFields[],
): Promise<Array<{ id: string; chainIndex: number; prevHash: Bytes; rowHash: Bytes }>> {
  let index = head ? head.chainIndex + 1 : 0;
  let prev: Bytes = head ? new Uint8Array(head.rowHash) : GENESIS_HASH;
  const out = [];
  for (const r of pending) {
    const hash = await rowHash(r, index, prev);
    out.push({ id: r.id, chainIndex: index, prevHash: prev, rowHash: hash });
    prev = hash;
    index++;
  }
  return out;
}

/**
 * Verifies one user's rows (linked ones consecutive from `fromIndex`, in order; pending ones
 * anywhere) against their checkpoints, with the gateway's public key given by the verifier —
 * never the key stored beside a checkpoint. From index 0 the first link must be the genesis hash.
 * A linked row is `sealed` once a valid checkpoint at or after it commits to it, `broken` if its
 * own hash, its link, or the checkpoint covering it fails, else `pending`.
 */
export async function verifyChain(p: {
  rows: ChainRow[];
  checkpoints: Checkpoint[];
  gatewayEd25519Public: Uint8Array;
  fromIndex?: number;
}): Promise<ChainVerdict> {
  const states = new Map<string, ChainState>();
  const linked = p.rows.filter((r) => r.chainIndex !== null);
  for (const r of p.rows) if (r.chainIndex === null) states.set(r.id, 'pending');
  const byIndex = new Map(p.checkpoints.map((c) => [c.chainIndex, c]));
  let firstBreak: ChainBreak | null = null;
  const fail = (b: ChainBreak) => {
    if (!firstBreak) firstBreak = b;
  };
  const start = p.fromIndex ?? 0;
  let expected = start;
  let prevStored: Uint8Array | null = start === 0 ? GENESIS_HASH : null;
  let segment: ChainRow[] = [];
  let segmentBroken = false;
  let sealedThrough: number | null = null;
  let previous: ChainRow | null = null;
  for (const r of linked) {
    const index = r.chainIndex as number;
    if (index !== expected) {
      fail({ rowId: null, chainIndex: expected, reason: 'missing-row' });
      segmentBroken = true;
      prevStored = null;
      previous = null;
      expected = index;
    }
    let bad: BreakReason | null = null;
    const stored = r.rowHash && r.prevHash ? r.rowHash : null;
    if (!stored || !r.prevHash) bad = 'row-edited';
    else if (prevStored && !constantTimeEqual(prevStored, r.prevHash)) bad = 'broken-link';
    else if (!constantTimeEqual(await rowHash(r, index, r.prevHash), stored)) bad = 'row-edited';
    if (bad === 'broken-link' && previous) {
      // This row's own hash holds, so its predecessor was rewritten with a recomputed hash.
      fail({ rowId: previous.id, chainIndex: index - 1, reason: bad });
      states.set(previous.id, 'broken');
      states.set(r.id, 'broken');
    } else if (bad) {
      fail({ rowId: r.id, chainIndex: index, reason: bad });
      states.set(r.id, 'broken');
    }
    previous = r;
    segment.push(r);
    prevStored = stored;
    expected = index + 1;
    const cp = byIndex.get(index);
    if (cp) {
      let cpBad: BreakReason | null = null;
      if (!(await verifyCheckpoint(p.gatewayEd25519Public, cp))) cpBad = 'bad-signature';
      else if (!stored || !constantTimeEqual(cp.headHash, stored)) cpBad = 'checkpoint-mismatch';
      if (cpBad) {
        const firstOfSegment = segment[0] ?? r;
        fail({
          rowId: firstOfSegment.id,
          chainIndex: firstOfSegment.chainIndex ?? index,
          reason: cpBad,
        });
        for (const s of segment) states.set(s.id, 'broken');
      } else {
        for (const s of segment)
          if (states.get(s.id) !== 'broken') states.set(s.id, segmentBroken ? 'broken' : 'sealed');
        if (!segmentBroken) sealedThrough = index;
      }
      segment = [];
      segmentBroken = false;
    }
  }
  for (const s of segment)
    if (!states.has(s.id)) states.set(s.id, segmentBroken ? 'broken' : 'pending');
  // A checkpoint past the last linked row: rows were deleted from the end.
  const last = expected - 1;
  for (const c of p.checkpoints) {
    if (
      c.chainIndex > last &&
      c.chainIndex >= start &&
      (await verifyCheckpoint(p.gatewayEd25519Public, c))
    ) {
      fail({ rowId: null, chainIndex: last + 1, reason: 'missing-row' });
      break;
    }
  }
  return { ok: firstBreak === null, linked: linked.length, sealedThrough, firstBreak, states };
}

/** Base64 helpers for the export and the API (hashes and signatures travel as base64). */
export function b64(bytes: Uint8Array | null): string | null {
  return bytes ? base64Encode(bytes) : null;
}

export function unb64(s: string | null): Bytes | null {
  return s === null ? null : base64Decode(s);
}
