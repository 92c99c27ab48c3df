import {
  type Bytes,
  base64Decode,
  base64Encode,
  checkLength,
  constantTimeEqual,
  expectLength,
  hexEncode,
  u32be,
  utf8Encode,
} from './bytes.ts';
import { KEY_COMMITMENT_BYTES } from './chatkeys.ts';
import { CryptoError } from './errors.ts';
import { checkEpoch, domain, epochBytes, idBytes, Label } from './labels.ts';
import {
  type Ed25519Check,
  ed25519Sign,
  ed25519Verifier,
  ed25519Verify,
  SIGNATURE_BYTES,
  sha256Sync,
} from './primitives.ts';

/**
 * The signed membership log of one chat. Every change of who may read it is an entry signed by
 * the member making it, chained by hash from entry 0 (the creator's `create`):
 *
 *   signed = "vutler/v1/membership/sig" ‖ 0x00 ‖ lp(chatId) ‖ lp(u32be position) ‖
 *            lp(u32be epoch) ‖ lp(action) ‖ lp(actorId) ‖ lp(subjectId) ‖
 *            lp(subjectFingerprint 32) ‖ lp(role) ‖ lp(prevHash 32) ‖ lp(keyCommitment 32 | empty)
 *   signature = Ed25519(actor, signed)
 *   hash      = SHA-256("vutler/v1/membership/hash" ‖ 0x00 ‖ lp(signed) ‖ lp(signature))
 *
 * `epoch` is the epoch in force after the entry; `prevHash` is the previous entry's hash (32 zero
 * bytes at position 0); `subjectFingerprint` is the SHA-256 identity digest of the subject (see
 * `fingerprintDigest`), so an entry vouches for the key the actor saw; `keyCommitment` is the
 * epoch's chat-key commitment, present exactly on `create` and `rotate`.
 *
 * Both the server (before storing) and every client (before trusting a wrap, a sender or an
 * epoch) run the same rules below. Actions are a table so a later one (e.g. an agent grant) adds
 * a rule without touching the chain format.
 */

export type Role = 'owner' | 'admin' | 'member';
export type MembershipAction = 'create' | 'add' | 'remove' | 'rotate';

export interface UnsignedMembershipEntry {
  chatId: string;
  position: number;
  epoch: number;
  action: MembershipAction | (string & {});
  actorId: string;
  subjectId: string;
  subjectFingerprint: Uint8Array;
  /** The role given to the subject (`create`: owner; `add`: member or admin), '' otherwise. */
  role: string;
  prevHash: Uint8Array;
  keyCommitment: Uint8Array | null;
}

export interface MembershipEntry extends UnsignedMembershipEntry {
  signature: Uint8Array;
}

export interface MembershipEntryJson {
  position: number;
  epoch: number;
  action: string;
  actorId: string;
  subjectId: string;
  subjectFingerprint: string;
  role: string;
  prevHash: string;
  keyCommitment: string | null;
  signature: string;
}

export const LOG_HASH_BYTES = 32;
export const FINGERPRINT_DIGEST_BYTES = 32;
const ZERO_HASH = new Uint8Array(LOG_HASH_BYTES);

export interface MemberInfo {
  role: string;
  /** Hex of the identity digest the log recorded for this member. */
  fingerprint: string;
  joinedEpoch: number;
}

export interface EpochInfo {
  epoch: number;
  commitment: Bytes;
  /** Who started it (create/rotate actor) and at which position. */
  startedBy: string;
  position: number;
}

/** A stretch of membership: held every epoch e with from ≤ e < to (to = null: still a member). */
export interface Tenure {
  from: number;
  to: number | null;
}

/** What a verified log says: who is in, with which key, and which epochs exist. */
export interface MembershipState {
  chatId: string;
  /** Number of entries = the next position. */
  length: number;
  /** Hash of the last entry (zeros for an empty log). */
  head: Bytes;
  epoch: number;
  members: Map<string, MemberInfo>;
  epochs: Map<number, EpochInfo>;
  /** userId → hex identity digest, for everyone the log ever named. */
  fingerprints: Map<string, string>;
  /** userId → the epochs whose key they legitimately held (see `heldEpoch`). */
  tenures: Map<string, Tenure[]>;
  /** A member was removed and no rotation followed yet: the current key must not be used. */
  pendingRotation: boolean;
  /** Hash of each entry by position (so a client can check a log extends the head it holds). */
  hashes: Bytes[];
}

export function emptyMembershipState(chatId: string): MembershipState {
  idBytes(chatId, 'chat id');
  return {
    chatId,
    length: 0,
    head: new Uint8Array(LOG_HASH_BYTES),
    epoch: -1,
    members: new Map(),
    epochs: new Map(),
    fingerprints: new Map(),
    tenures: new Map(),
    pendingRotation: false,
    hashes: [],
  };
}

export function cloneMembershipState(s: MembershipState): MembershipState {
  return {
    ...s,
    head: s.head.slice(),
    members: new Map([...s.members].map(([k, v]) => [k, { ...v }])),
    epochs: new Map(s.epochs),
    fingerprints: new Map(s.fingerprints),
    tenures: new Map([...s.tenures].map(([k, v]) => [k, v.map((t) => ({ ...t }))])),
    hashes: [...s.hashes],
  };
}

function logError(message: string): CryptoError {
  return new CryptoError('bad_log', message);
}

/** The entry fields framing cannot check by their size: position, action and role. */
function checkEntryFields(e: Pick<UnsignedMembershipEntry, 'position' | 'action' | 'role'>): void {
  if (!Number.isInteger(e.position) || e.position < 0 || e.position > 0xffff_ffff) {
    throw new CryptoError('bad_input', 'log position must be a u32');
  }
  if (typeof e.action !== 'string' || !/^[a-z][a-z0-9-]{0,31}$/.test(e.action)) {
    throw new CryptoError('bad_input', 'log action must be a short lower-case word');
  }
  if (typeof e.role !== 'string' || e.role.length > 32) {
    throw new CryptoError('bad_input', 'log role must be a short string');
  }
}

function signedInput(e: UnsignedMembershipEntry): Bytes {
  checkEntryFields(e);
  return domain(
    Label.membershipSig,
    idBytes(e.chatId, 'chat id'),
    u32be(e.position),
    epochBytes(e.epoch),
    utf8Encode(e.action),
    idBytes(e.actorId, 'actor id'),
    idBytes(e.subjectId, 'subject id'),
    checkLength(e.subjectFingerprint, FINGERPRINT_DIGEST_BYTES, 'subject fingerprint'),
    utf8Encode(e.role),
    checkLength(e.prevHash, LOG_HASH_BYTES, 'previous entry hash'),
    e.keyCommitment === null
      ? new Uint8Array(0)
      : checkLength(e.keyCommitment, KEY_COMMITMENT_BYTES, 'key commitment'),
  );
}

export async function signMembershipEntry(
  e: UnsignedMembershipEntry,
  signingKey: CryptoKey,
): Promise<MembershipEntry> {
  return { ...e, signature: await ed25519Sign(signingKey, signedInput(e)) };
}

export function verifyMembershipSignature(
  e: MembershipEntry,
  actorEd25519PublicKey: Uint8Array,
): Promise<boolean> {
  return ed25519Verify(actorEd25519PublicKey, e.signature, signedInput(e));
}

// Synchronous: a cold log is a thousand small hashes, where WebCrypto's per-call cost dominates.
function hashOfSigned(signed: Uint8Array, signature: Uint8Array): Bytes {
  return sha256Sync(
    domain(Label.membershipHash, signed, checkLength(signature, SIGNATURE_BYTES, 'signature')),
  );
}

export async function membershipEntryHash(e: MembershipEntry): Promise<Bytes> {
  return hashOfSigned(signedInput(e), e.signature);
}

/** One action's rule: checks the entry against the state and applies it, or throws. */
export type MembershipRule = (s: MembershipState, e: UnsignedMembershipEntry, fp: string) => void;

const RANK: Record<string, number> = { member: 1, admin: 2, owner: 3 };

function requireMember(s: MembershipState, userId: string, what: string): MemberInfo {
  const m = s.members.get(userId);
  if (!m) throw logError(`${what} ${userId} is not a member at position ${s.length}`);
  return m;
}

function requireNoCommitment(e: UnsignedMembershipEntry): void {
  if (e.keyCommitment !== null) throw logError(`a ${e.action} entry carries no key commitment`);
}

function requireCommitment(e: UnsignedMembershipEntry): Bytes {
  if (e.keyCommitment === null) throw logError(`a ${e.action} entry must commit to its key`);
  return expectLength(e.keyCommitment, KEY_COMMITMENT_BYTES, 'key commitment');
}

/** The subject's key must be the one the log already knows for them, if it knows one. */
function checkKnownFingerprint(s: MembershipState, userId: string, fp: string): void {
  const known = s.fingerprints.get(userId);
  if (known !== undefined && known !== fp) {
    throw logError(`the log names a different identity key for ${userId} than before`);
  }
}

export const MEMBERSHIP_RULES: Record<string, MembershipRule> = {
  create(s, e, fp) {
    if (e.position !== 0) throw logError('create is only entry 0');
    if (e.actorId !== e.subjectId) throw logError('the creator is the subject of create');
    if (e.epoch !== 0) throw logError('a chat starts at epoch 0');
    if (e.role !== 'owner') throw logError('the creator is the owner');
    const commitment = requireCommitment(e);
    s.members.set(e.actorId, { role: 'owner', fingerprint: fp, joinedEpoch: 0 });
    s.fingerprints.set(e.actorId, fp);
    s.epochs.set(0, {
      epoch: 0,
      commitment: commitment.slice(),
      startedBy: e.actorId,
      position: 0,
    });
    s.tenures.set(e.actorId, [{ from: 0, to: null }]);
    s.epoch = 0;
  },
  add(s, e, fp) {
    const actor = requireMember(s, e.actorId, 'adder');
    if (s.members.has(e.subjectId)) throw logError(`${e.subjectId} is already a member`);
    if (e.epoch !== s.epoch) throw logError('add does not change the epoch');
    if (e.role !== 'member' && e.role !== 'admin') throw logError('add gives member or admin');
    if (e.role === 'admin' && actor.role !== 'owner') throw logError('only the owner adds admins');
    if (s.pendingRotation) throw logError('rotate after a removal before adding anyone');
    requireNoCommitment(e);
    checkKnownFingerprint(s, e.subjectId, fp);
    s.members.set(e.subjectId, { role: e.role, fingerprint: fp, joinedEpoch: s.epoch });
    s.fingerprints.set(e.subjectId, fp);
    const tenures = s.tenures.get(e.subjectId) ?? [];
    tenures.push({ from: s.epoch, to: null });
    s.tenures.set(e.subjectId, tenures);
  },
  remove(s, e, fp) {
    const actor = requireMember(s, e.actorId, 'remover');
    const subject = requireMember(s, e.subjectId, 'removed user');
    if (e.subjectId === e.actorId) throw logError('remove someone else, not yourself');
    if ((RANK[actor.role] ?? 0) < RANK.admin!) throw logError('only the owner or an admin removes');
    if ((RANK[subject.role] ?? 0) >= (RANK[actor.role] ?? 0))
      throw logError('cannot remove a member of equal or higher role');
    if (e.epoch !== s.epoch) throw logError('remove does not change the epoch; rotate does');
    if (e.role !== '') throw logError('remove gives no role');
    requireNoCommitment(e);
    if (subject.fingerprint !== fp) throw logError('remove names another key than the log');
    s.members.delete(e.subjectId);
    // They held the current epoch's key, and will not get the next one.
    const last = s.tenures.get(e.subjectId)?.at(-1);
    if (last) last.to = s.epoch + 1;
    s.pendingRotation = true;
  },
  rotate(s, e, fp) {
    const actor = requireMember(s, e.actorId, 'rotator');
    if (e.subjectId !== e.actorId) throw logError('the rotator is the subject of rotate');
    if (e.epoch !== s.epoch + 1) throw logError('rotate moves to exactly the next epoch');
    if (e.role !== '') throw logError('rotate gives no role');
    if (actor.fingerprint !== fp) throw logError('rotate names another key than the log');
    const commitment = requireCommitment(e);
    s.epochs.set(e.epoch, {
      epoch: e.epoch,
      commitment: commitment.slice(),
      startedBy: e.actorId,
      position: e.position,
    });
    s.epoch = e.epoch;
    s.pendingRotation = false;
  },
};

/**
 * Applies one entry whose signature was (or will be) checked separately. Mutates `s`. Returns the
 * fingerprint (hex) the actor's signing key must have.
 */
export function applyMembershipEntry(
  s: MembershipState,
  e: UnsignedMembershipEntry,
  hash: Uint8Array,
  rules: Record<string, MembershipRule> = MEMBERSHIP_RULES,
): string {
  return applyEntry(s, e, expectLength(hash, LOG_HASH_BYTES, 'entry hash').slice(), rules);
}

/** `applyMembershipEntry` for a hash this module just computed (a fresh 32-byte array). */
function applyEntry(
  s: MembershipState,
  e: UnsignedMembershipEntry,
  hash: Bytes,
  rules: Record<string, MembershipRule>,
): string {
  if (e.chatId !== s.chatId) throw logError('entry belongs to another chat');
  if (e.position !== s.length) throw logError(`expected position ${s.length}, got ${e.position}`);
  if (!constantTimeEqual(e.prevHash, s.head)) {
    throw logError(`entry ${e.position} does not extend the log (previous hash differs)`);
  }
  checkEpoch(e.epoch);
  const rule = Object.hasOwn(rules, e.action) ? rules[e.action] : undefined;
  if (!rule) throw logError(`unknown log action ${e.action}`);
  const fp = hexEncode(checkLength(e.subjectFingerprint, FINGERPRINT_DIGEST_BYTES, 'fingerprint'));
  // The actor's key is the one the log recorded when they joined (create: the entry's own).
  const actorFp = e.action === 'create' ? fp : s.fingerprints.get(e.actorId);
  rule(s, e, fp);
  if (actorFp === undefined) throw logError(`actor ${e.actorId} has no key in the log`);
  s.length += 1;
  s.head = hash;
  s.hashes.push(hash);
  return actorFp;
}

export interface VerifyLogOptions {
  chatId: string;
  /**
   * The actor's Ed25519 public key, given the identity digest (hex) the log recorded for them.
   * The caller checks that the key it returns has that digest (and matches its own pins).
   */
  keyOf: (userId: string, fingerprintHex: string) => Promise<Uint8Array>;
  /** A verified state to extend; `entries` must then start at `from.length`. */
  from?: MembershipState;
  rules?: Record<string, MembershipRule>;
}

/** A prefix of a log the caller already trusts as verified: `length` entries ending in `head`. */
export interface TrustedPrefix {
  length: number;
  head: Uint8Array;
}

/**
 * Options of a cold verification that may start its signature checks late (docs/CRYPTO.md
 * "Trust anchors"). Every entry still has its rules applied and its hash chained; only
 * signatures before the newest anchor are taken as checked by the anchor's signer.
 */
export interface AnchoredVerifyOptions extends Omit<VerifyLogOptions, 'from'> {
  /** The caller's own signed anchor (checked by the caller): entry `length - 1` must hash to `head`. */
  trustedPrefix?: TrustedPrefix;
  /**
   * The caller. The newest `add` of this user with this identity digest is signed by a member
   * who verified everything before it (clients verify before appending) and who already holds
   * every key of the chat, so that entry's signature vouches for the prefix it chains to.
   */
  self?: { userId: string; fingerprint: Uint8Array };
}

export interface AnchoredVerification {
  state: MembershipState;
  /** Position from which signatures were checked (0: all of them). */
  checkedFrom: number;
  /**
   * userId → identity digest (hex) of the actors whose entries all lie before `checkedFrom`:
   * their keys were not fetched, so the caller checks them against what it has pinned.
   */
  vouchedActors: Map<string, string>;
}

/**
 * Verifies entries (all of a log, or the part after `from`) and returns the resulting state.
 * Rules run in order; key look-ups and signatures run concurrently. Throws `bad_log` or
 * `bad_signature`; never returns a partially verified state.
 */
export async function verifyMembershipLog(
  entries: MembershipEntry[],
  opts: VerifyLogOptions,
): Promise<MembershipState> {
  const { chatId, keyOf, from, rules } = opts;
  return (await verifyLog(entries, { chatId, keyOf, rules }, from)).state;
}

/**
 * A cold verification (no state held) that checks signatures only from the newest anchor on:
 * the caller's `trustedPrefix` or the entry adding `self`, whichever is later. A prefix that
 * does not match `trustedPrefix` is `bad_anchor`. Without anchors it is the full verification.
 */
export function verifyMembershipLogAnchored(
  entries: MembershipEntry[],
  opts: AnchoredVerifyOptions,
): Promise<AnchoredVerification> {
  return verifyLog(entries, opts, undefined);
}

/**
 * One pass over the entries, in order: frame, hash, apply the rules, and hand the signature to
 * its signer's check at once, so the thread pool verifies entry i while this thread frames
 * entry i + 1 (docs/CRYPTO.md "Verifying a long log"). Nothing is returned, and no state is
 * kept, until every rule, link and signature has been checked.
 */
async function verifyLog(
  entries: MembershipEntry[],
  opts: AnchoredVerifyOptions,
  from: MembershipState | undefined,
): Promise<AnchoredVerification> {
  const state = from ? cloneMembershipState(from) : emptyMembershipState(opts.chatId);
  if (state.chatId !== opts.chatId) throw logError('state belongs to another chat');
  const rules = opts.rules ?? MEMBERSHIP_RULES;
  // Where signature checks start, as far as the entries alone tell (the anchor is confirmed
  // against the hash chain below, before anything is returned).
  const start = anchorPosition(entries, opts, undefined);
  const checks = new SignerChecks(opts.keyOf);
  await checks.prefetch(guessSigners(entries, start, state));
  const framer = new EntryFramer();
  const actorFps: string[] = new Array(entries.length);
  const pending: Promise<boolean>[] = [];
  try {
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      const { signed, hashed, signature } = framer.frame(e);
      const fp = applyEntry(state, e, sha256Sync(hashed), rules);
      actorFps[i] = fp;
      if (i >= start) pending.push(checks.check(e.actorId, fp, signature, signed));
    }
    if (state.length === 0) throw logError('the log is empty');
    const checkedFrom = anchorPosition(entries, opts, state);
    if (checkedFrom !== start)
      throw new CryptoError('bad_anchor', 'the anchor position changed during verification');
  } catch (err) {
    for (const p of pending) p.catch(() => undefined);
    throw err;
  }
  const results = await Promise.all(pending);
  const bad = results.indexOf(false);
  if (bad !== -1) {
    throw new CryptoError(
      'bad_signature',
      `log entry ${entries[start + bad]!.position} is not signed by its actor`,
    );
  }
  const vouchedActors = new Map<string, string>();
  for (let i = 0; i < start; i++) vouchedActors.set(entries[i]!.actorId, actorFps[i]!);
  for (let i = start; i < entries.length; i++) vouchedActors.delete(entries[i]!.actorId);
  return { state, checkedFrom: start, vouchedActors };
}

/**
 * Each signer's key, asked for once (`keyOf`) and imported once; `check` starts a signature's
 * verification synchronously when the signer's check is ready, else once it is.
 */
class SignerChecks {
  private readonly asked = new Map<string, Promise<Ed25519Check>>();
  private readonly ready = new Map<string, Ed25519Check>();

  constructor(private readonly keyOf: VerifyLogOptions['keyOf']) {}

  private signer(userId: string, fp: string): Promise<Ed25519Check> {
    const k = `${userId}:${fp}`;
    let p = this.asked.get(k);
    if (!p) {
      try {
        p = this.keyOf(userId, fp).then(ed25519Verifier);
      } catch (err) {
        // A keyOf that throws instead of rejecting: the same failure, at the same point.
        p = Promise.reject(err);
      }
      p.then(
        (c) => this.ready.set(k, c),
        () => undefined,
      );
      this.asked.set(k, p);
    }
    return p;
  }

  /**
   * Asks for the keys the log will most likely need before the pass starts (a guess from the
   * entries alone; the pass itself only uses the keys the rules name). Failures surface when
   * (and only if) an entry needs that key.
   */
  async prefetch(signers: Map<string, string>): Promise<void> {
    await Promise.allSettled([...signers].map(([u, fp]) => this.signer(u, fp)));
  }

  check(userId: string, fp: string, signature: Uint8Array, signed: Uint8Array): Promise<boolean> {
    const ready = this.ready.get(`${userId}:${fp}`);
    if (ready) return ready(signature, signed);
    return this.signer(userId, fp).then((c) => c(signature, signed));
  }
}

/**
 * The actors of entries from `start` on, with the key the log would record for them (the
 * first create/add naming them, or what `from` already knows). Only a hint for `prefetch`.
 */
function guessSigners(
  entries: MembershipEntry[],
  start: number,
  from: MembershipState,
): Map<string, string> {
  const known = new Map<string, Uint8Array>();
  const out = new Map<string, string>();
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if ((e.action === 'create' || e.action === 'add') && !known.has(e.subjectId))
      known.set(e.subjectId, e.subjectFingerprint);
    if (i < start || out.has(e.actorId)) continue;
    const fromState = from.fingerprints.get(e.actorId);
    if (fromState !== undefined) {
      out.set(e.actorId, fromState);
      continue;
    }
    const fp = e.action === 'create' ? e.subjectFingerprint : known.get(e.actorId);
    if (fp instanceof Uint8Array && fp.length === FINGERPRINT_DIGEST_BYTES)
      out.set(e.actorId, hexEncode(fp));
  }
  return out;
}

const SIG_PREFIX = utf8Encode(`${Label.membershipSig}\0`);
const HASH_PREFIX = utf8Encode(`${Label.membershipHash}\0`);
const ARENA_BYTES = 64 * 1024;

/**
 * Frames entries for `verifyLog`: the same bytes as `signedInput` and `hashOfSigned`, written
 * into one shared buffer (`hashed` = the hash input, `signed` = the signature input inside it)
 * with each distinct id encoded once — a cold log frames a thousand entries by a few actors.
 */
class EntryFramer {
  private readonly ids = new Map<string, Bytes>();
  private readonly words = new Map<string, Bytes>();
  private arena = new Uint8Array(0);
  private used = 0;

  private id(id: string, what: string): Bytes {
    let b = this.ids.get(id);
    if (!b) {
      b = idBytes(id, what);
      this.ids.set(id, b);
    }
    return b;
  }

  private word(w: string): Bytes {
    let b = this.words.get(w);
    if (!b) {
      b = utf8Encode(w);
      this.words.set(w, b);
    }
    return b;
  }

  frame(e: MembershipEntry): { signed: Uint8Array; hashed: Uint8Array; signature: Uint8Array } {
    // The checks of signedInput, in its order.
    checkEntryFields(e);
    const chat = this.id(e.chatId, 'chat id');
    checkEpoch(e.epoch);
    const action = this.word(e.action);
    const actor = this.id(e.actorId, 'actor id');
    const subject = this.id(e.subjectId, 'subject id');
    const fp = checkLength(e.subjectFingerprint, FINGERPRINT_DIGEST_BYTES, 'subject fingerprint');
    const role = this.word(e.role);
    const prev = checkLength(e.prevHash, LOG_HASH_BYTES, 'previous entry hash');
    const commitment =
      e.keyCommitment === null
        ? new Uint8Array(0)
        : checkLength(e.keyCommitment, KEY_COMMITMENT_BYTES, 'key commitment');
    const signature = checkLength(e.signature, SIGNATURE_BYTES, 'signature');
    // Every field is far below 64 KiB (ids ≤ MAX_ID_BYTES, words ≤ 128 bytes).
    const signedLength =
      SIG_PREFIX.length +
      10 * 2 +
      chat.length +
      8 +
      action.length +
      actor.length +
      subject.length +
      fp.length +
      role.length +
      prev.length +
      commitment.length;
    const total = HASH_PREFIX.length + 2 + signedLength + 2 + SIGNATURE_BYTES;
    if (this.arena.length - this.used < total) {
      this.arena = new Uint8Array(Math.max(ARENA_BYTES, total));
      this.used = 0;
    }
    const out = this.arena;
    const at = this.used;
    this.used += total;
    let o = putBytes(out, at, HASH_PREFIX);
    out[o] = signedLength >>> 8;
    out[o + 1] = signedLength & 0xff;
    const signedAt = o + 2;
    o = putBytes(out, signedAt, SIG_PREFIX);
    o = putField(out, o, chat);
    o = putU32Field(out, o, e.position);
    o = putU32Field(out, o, e.epoch);
    o = putField(out, o, action);
    o = putField(out, o, actor);
    o = putField(out, o, subject);
    o = putField(out, o, fp);
    o = putField(out, o, role);
    o = putField(out, o, prev);
    o = putField(out, o, commitment);
    const signedEnd = o;
    o = putField(out, o, signature);
    return {
      signed: out.subarray(signedAt, signedEnd),
      hashed: out.subarray(at, o),
      // The signature's copy in the (off-heap) arena: handing it on moves no small array.
      signature: out.subarray(o - SIGNATURE_BYTES, o),
    };
  }
}

/** Copies `b` into `out` at `o` (a loop: most fields are a few bytes); returns the next offset. */
function putBytes(out: Uint8Array, o: number, b: Uint8Array): number {
  for (let i = 0; i < b.length; i++) out[o + i] = b[i]!;
  return o + b.length;
}

/** lp(field): u16be length, then the bytes. */
function putField(out: Uint8Array, o: number, f: Uint8Array): number {
  out[o] = f.length >>> 8;
  out[o + 1] = f.length & 0xff;
  return putBytes(out, o + 2, f);
}

/** lp(u32be n). */
function putU32Field(out: Uint8Array, o: number, n: number): number {
  out[o] = 0;
  out[o + 1] = 4;
  out[o + 2] = n >>> 24;
  out[o + 3] = (n >>> 16) & 0xff;
  out[o + 4] = (n >>> 8) & 0xff;
  out[o + 5] = n & 0xff;
  return o + 6;
}

/**
 * Index of the first entry whose signature must be checked (anchors only on a cold start).
 * Without `state` (before the pass) it is a plan from the entries alone and never throws; with
 * the verified state it also checks the trusted prefix against the hash chain.
 */
function anchorPosition(
  entries: MembershipEntry[],
  opts: AnchoredVerifyOptions,
  state: MembershipState | undefined,
): number {
  let start = 0;
  if (opts.trustedPrefix) {
    const { length, head } = opts.trustedPrefix;
    if (state) {
      if (!Number.isInteger(length) || length < 1) {
        throw new CryptoError('bad_input', 'an anchored prefix has at least one entry');
      }
      if (length > state.length) {
        throw new CryptoError(
          'bad_anchor',
          `the log has ${state.length} entries, fewer than the ${length} anchored`,
        );
      }
      if (!constantTimeEqual(state.hashes[length - 1]!, head)) {
        throw new CryptoError(
          'bad_anchor',
          `the log's first ${length} entries are not the anchored ones`,
        );
      }
    } else if (!Number.isInteger(length) || length < 1 || length > entries.length) {
      // Refused after the pass (with the error above); until then, plan to check everything.
      return 0;
    }
    start = length;
  }
  if (opts.self) {
    const own = opts.self.fingerprint;
    if (!state && !(own instanceof Uint8Array && own.length === FINGERPRINT_DIGEST_BYTES)) return 0;
    const fp = expectLength(own, FINGERPRINT_DIGEST_BYTES, 'own fingerprint');
    for (let i = entries.length - 1; i >= start; i--) {
      const e = entries[i]!;
      if (
        e.action === 'add' &&
        e.subjectId === opts.self.userId &&
        constantTimeEqual(e.subjectFingerprint, fp)
      ) {
        return i;
      }
    }
  }
  return start;
}

/** Did `userId` legitimately hold the key of `epoch` (a member at some point during it)? */
export function heldEpoch(s: MembershipState, userId: string, epoch: number): boolean {
  if (!s.epochs.has(epoch)) return false;
  return (s.tenures.get(userId) ?? []).some(
    (t) => t.from <= epoch && (t.to === null || epoch < t.to),
  );
}

/** Everyone who held the key of `epoch`. */
export function epochHolders(s: MembershipState, epoch: number): string[] {
  return [...s.tenures.keys()].filter((u) => heldEpoch(s, u, epoch));
}

/** May `wrapperId` hand `recipientId` the key of `epoch`? The wrapper must have held it. */
export function mayWrap(
  s: MembershipState,
  epoch: number,
  wrapperId: string,
  recipientId: string,
): boolean {
  if (!heldEpoch(s, wrapperId, epoch)) return false;
  // A later add may hand a new member older epochs (history); they must be in the log at all.
  return heldEpoch(s, recipientId, epoch) || s.tenures.has(recipientId);
}

/** A verified state as JSON, for a device's key store (so a chat is verified once, then extended). */
export interface MembershipStateJson {
  chatId: string;
  length: number;
  head: string;
  epoch: number;
  pendingRotation: boolean;
  members: [string, MemberInfo][];
  epochs: { epoch: number; commitment: string; startedBy: string; position: number }[];
  fingerprints: [string, string][];
  tenures: [string, Tenure[]][];
}

export function membershipStateToJson(s: MembershipState): MembershipStateJson {
  return {
    chatId: s.chatId,
    length: s.length,
    head: base64Encode(s.head),
    epoch: s.epoch,
    pendingRotation: s.pendingRotation,
    members: [...s.members],
    epochs: [...s.epochs.values()].map((e) => ({ ...e, commitment: base64Encode(e.commitment) })),
    fingerprints: [...s.fingerprints],
    tenures: [...s.tenures],
  };
}

export function membershipStateFromJson(j: MembershipStateJson): MembershipState {
  const head = base64Decode(j.head, LOG_HASH_BYTES);
  // Only the head's hash is kept: older positions are behind it in the chain.
  const hashes: Bytes[] = new Array(Math.max(0, j.length - 1));
  hashes.push(head);
  return {
    chatId: j.chatId,
    length: j.length,
    head,
    epoch: j.epoch,
    pendingRotation: j.pendingRotation,
    members: new Map(j.members.map(([k, v]) => [k, { ...v }])),
    epochs: new Map(
      j.epochs.map((e) => [
        e.epoch,
        { ...e, commitment: base64Decode(e.commitment, KEY_COMMITMENT_BYTES) },
      ]),
    ),
    fingerprints: new Map(j.fingerprints),
    tenures: new Map(j.tenures.map(([k, v]) => [k, v.map((t) => ({ ...t }))])),
    hashes,
  };
}

export function membershipEntryToJson(e: MembershipEntry): MembershipEntryJson {
  return {
    position: e.position,
    epoch: e.epoch,
    action: e.action,
    actorId: e.actorId,
    subjectId: e.subjectId,
    subjectFingerprint: base64Encode(e.subjectFingerprint),
    role: e.role,
    prevHash: base64Encode(e.prevHash),
    keyCommitment: e.keyCommitment === null ? null : base64Encode(e.keyCommitment),
    signature: base64Encode(e.signature),
  };
}

/** Parses the wire form (shape and sizes; the rules and signature are checked by verifying). */
export function membershipEntryFromJson(chatId: string, json: unknown): MembershipEntry {
  if (typeof json !== 'object' || json === null) {
    throw new CryptoError('bad_encoding', 'log entry must be a JSON object');
  }
  const o = json as Record<string, unknown>;
  const str = (k: string): string => {
    if (typeof o[k] !== 'string')
      throw new CryptoError('bad_encoding', `entry.${k} must be a string`);
    return o[k] as string;
  };
  const int = (k: string): number => {
    if (!Number.isInteger(o[k]))
      throw new CryptoError('bad_encoding', `entry.${k} must be an integer`);
    return o[k] as number;
  };
  const commitment = o.keyCommitment;
  if (commitment !== null && typeof commitment !== 'string') {
    throw new CryptoError('bad_encoding', 'entry.keyCommitment must be a string or null');
  }
  return {
    chatId,
    position: int('position'),
    epoch: int('epoch'),
    action: str('action'),
    actorId: str('actorId'),
    subjectId: str('subjectId'),
    subjectFingerprint: base64Decode(str('subjectFingerprint'), FINGERPRINT_DIGEST_BYTES),
    role: str('role'),
    prevHash: base64Decode(str('prevHash'), LOG_HASH_BYTES),
    keyCommitment: commitment === null ? null : base64Decode(commitment, KEY_COMMITMENT_BYTES),
    signature: base64Decode(str('signature'), SIGNATURE_BYTES),
  };
}

export { ZERO_HASH as LOG_GENESIS_PREV };
