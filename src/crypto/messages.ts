import {
  ByteReader,
  type Bytes,
  concat,
  expectLength,
  lengthPrefixed,
  randomBytes,
  toBytes,
  u16be,
  utf8Decode,
  utf8Encode,
  wipe,
} from './bytes.ts';
import { type ChatKey, KEY_COMMITMENT_BYTES } from './chatkeys.ts';
import { CryptoError } from './errors.ts';
import { domain, epochBytes, idBytes, Label } from './labels.ts';
import {
  aesGcmDecrypt,
  aesGcmDecryptSync,
  aesGcmEncrypt,
  ed25519Sign,
  ed25519Verify,
  ed25519VerifySync,
  IV_BYTES,
  SIGNATURE_BYTES,
  sha256,
  TAG_BYTES,
} from './primitives.ts';
import { assertUuidV7, isUuidV7 } from './uuid.ts';

/**
 * One seal/open API for every message, whoever sends it.
 *
 * `messages.encrypted_content` = 0x01 ‖ iv(12) ‖ AES-256-GCM(CK_epoch, utf8(JSON body))
 *   AAD = "vutler/v1/message/aad" ‖ 0x00 ‖ lp(chatId) ‖ lp(messageId) ‖ lp(u32be epoch) ‖
 *         lp(senderKind) ‖ lp(senderId) ‖ lp(onBehalfOf) ‖ lp(commitment)
 * signature (64 bytes, stored beside it) = Ed25519(signer,
 *   "vutler/v1/message/sig" ‖ 0x00 ‖ lp(chatId) ‖ lp(messageId) ‖ lp(u32be epoch) ‖
 *   lp(senderKind) ‖ lp(senderId) ‖ lp(onBehalfOf) ‖ lp(chainId 16) ‖ lp(u64be counter) ‖
 *   lp(prev 32) ‖ lp(mentions) ‖ lp(policy) ‖ lp(commitment) ‖ encrypted_content)
 *   mentions = lp(name)* over the sorted, de-duplicated names; policy = utf8("agents=" ‖ allow|deny|"")
 * hash (the next message's `prev`) = SHA-256("vutler/v1/message/hash" ‖ 0x00 ‖ lp(signature))
 *
 * The sender descriptor says who speaks: `{ kind: 'user', userId }` is signed by that user's
 * identity key; `{ kind: 'agent', agentName, onBehalfOf }` is signed by the gateway's key for an
 * agent answering on a user's behalf (kind, agent name and user are all bound, so a gateway
 * signature cannot be passed off as a person's and vice versa). The chain (a random per-device
 * chain id, a counter from 0 and the hash of that chain's previous message, 32 zero bytes for
 * counter 0) lets receivers see a dropped, reordered or replayed message; `commitment` is the
 * epoch's key commitment from the membership log (see chatkeys.ts), so one ciphertext cannot
 * open under two keys.
 */
export const MESSAGE_ENVELOPE_VERSION = 1;
export const MESSAGE_ENVELOPE_OVERHEAD = 1 + IV_BYTES + TAG_BYTES;
export const CHAIN_ID_BYTES = 16;
export const MESSAGE_HASH_BYTES = 32;

export type SenderDescriptor =
  | { kind: 'user'; userId: string }
  | { kind: 'agent'; agentName: string; onBehalfOf: string };

export interface ChainLink {
  /** Random per device (kept in its key store), so two devices of one user never collide. */
  chainId: Uint8Array;
  /** 0 for the chain's first message in this chat, then +1 per message. */
  counter: number;
  /** Hash of the chain's previous message; 32 zero bytes for counter 0. */
  prev: Uint8Array;
}

export interface AgentPolicy {
  agents?: 'allow' | 'deny';
}

/** Everything about a message that is bound by its signature besides the ciphertext. */
export interface MessageHeader {
  chatId: string;
  messageId: string;
  epoch: number;
  sender: SenderDescriptor;
  chain: ChainLink;
  mentions: string[];
  decryptionPermissions: AgentPolicy;
}

export interface Attachment {
  fileId: string;
  shareId: string;
}

export interface MessageBody {
  text: string;
  /** Id of the message this one answers, or null. */
  replyTo: string | null;
  attachments: Attachment[];
}

function checkBody(value: unknown): MessageBody {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CryptoError('bad_encoding', 'message body must be a JSON object');
  }
  const o = value as Record<string, unknown>;
  if (typeof o.text !== 'string')
    throw new CryptoError('bad_encoding', 'body.text must be a string');
  const replyTo = o.replyTo ?? null;
  if (replyTo !== null && !isUuidV7(replyTo)) {
    throw new CryptoError('bad_encoding', 'body.replyTo must be a UUIDv7 or null');
  }
  const rawAttachments = o.attachments ?? [];
  if (!Array.isArray(rawAttachments)) {
    throw new CryptoError('bad_encoding', 'body.attachments must be an array');
  }
  const attachments = rawAttachments.map((a: unknown, i): Attachment => {
    const ao = a as Record<string, unknown> | null;
    if (
      typeof ao !== 'object' ||
      ao === null ||
      typeof ao.fileId !== 'string' ||
      ao.fileId === '' ||
      typeof ao.shareId !== 'string' ||
      ao.shareId === ''
    ) {
      throw new CryptoError('bad_encoding', `body.attachments[${i}] must be { fileId, shareId }`);
    }
    return { fileId: ao.fileId, shareId: ao.shareId };
  });
  // Unknown keys are dropped rather than refused so a newer client's additions do not make a
  // message unreadable for an older one.
  return { text: o.text, replyTo: replyTo as string | null, attachments };
}

export function encodeMessageBody(body: MessageBody): Bytes {
  const checked = checkBody(body);
  return utf8Encode(JSON.stringify(checked));
}

export function decodeMessageBody(bytes: Uint8Array): MessageBody {
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8Decode(bytes));
  } catch (err) {
    if (err instanceof CryptoError) throw err;
    throw new CryptoError('bad_encoding', 'message body is not valid JSON', { cause: err });
  }
  return checkBody(parsed);
}

/** Mentions as signed and stored: sorted, without duplicates. */
export function canonicalMentions(mentions: readonly string[]): string[] {
  return [...new Set(mentions)].sort();
}

const EMPTY = new Uint8Array(0);
const KIND_USER = utf8Encode('user');
const KIND_AGENT = utf8Encode('agent');
const POLICY_BYTES = {
  '': utf8Encode('agents='),
  allow: utf8Encode('agents=allow'),
  deny: utf8Encode('agents=deny'),
} as const;
/** `utf8(label) ‖ 0x00`, the start of `domain(label, …)` (labels.ts). */
const AAD_PREFIX = concat(utf8Encode(Label.messageAad), Uint8Array.of(0));
const SIG_PREFIX = concat(utf8Encode(Label.messageSig), Uint8Array.of(0));

function senderFields(sender: SenderDescriptor): Bytes[] {
  if (sender.kind === 'user') {
    return [KIND_USER, idBytes(sender.userId, 'sender id'), EMPTY];
  }
  if (sender.kind === 'agent') {
    return [
      KIND_AGENT,
      idBytes(sender.agentName, 'agent name'),
      idBytes(sender.onBehalfOf, 'on-behalf-of user id'),
    ];
  }
  throw new CryptoError('bad_input', 'unknown sender kind');
}

function checkChain(chain: ChainLink): void {
  expectLength(chain.chainId, CHAIN_ID_BYTES, 'chain id');
  expectLength(chain.prev, MESSAGE_HASH_BYTES, 'previous message hash');
  if (!Number.isSafeInteger(chain.counter) || chain.counter < 0) {
    throw new CryptoError('bad_input', 'chain counter must be a non-negative safe integer');
  }
  if (chain.counter === 0 && chain.prev.some((b) => b !== 0)) {
    throw new CryptoError('bad_input', 'the first message of a chain has no previous message');
  }
}

/** Big-endian 8 bytes of a safe non-negative integer (checkChain ran first). */
function u64be(n: number): Bytes {
  const out = new Uint8Array(8);
  const hi = Math.floor(n / 0x1_0000_0000);
  const lo = n >>> 0;
  out[0] = hi >>> 24;
  out[1] = (hi >>> 16) & 0xff;
  out[2] = (hi >>> 8) & 0xff;
  out[3] = hi & 0xff;
  out[4] = lo >>> 24;
  out[5] = (lo >>> 16) & 0xff;
  out[6] = (lo >>> 8) & 0xff;
  out[7] = lo & 0xff;
  return out;
}

function policyBytes(p: AgentPolicy): Bytes {
  const agents = p.agents ?? '';
  if (agents !== '' && agents !== 'allow' && agents !== 'deny') {
    throw new CryptoError('bad_input', 'decryptionPermissions.agents must be allow or deny');
  }
  return POLICY_BYTES[agents];
}

function mentionsBytes(mentions: readonly string[]): Bytes {
  if (mentions.length === 0) return EMPTY;
  return concat(...canonicalMentions(mentions).map((m) => lengthPrefixed(idBytes(m, 'mention'))));
}

/**
 * `prefix ‖ (u16be(len) ‖ field)* ‖ tail` in one allocation, the fields being `head` then
 * `rest`: the same bytes as `concat(domain(label, ...head, ...rest), tail)` when `prefix` is
 * `utf8(label) ‖ 0x00`.
 */
function framed(
  prefix: Bytes,
  head: readonly Uint8Array[],
  rest: readonly Uint8Array[],
  tail: Uint8Array = EMPTY,
): Bytes {
  let total = prefix.length + tail.length;
  for (const f of head) total += fieldLength(f);
  for (const f of rest) total += fieldLength(f);
  const out = new Uint8Array(total);
  out.set(prefix, 0);
  let off = writeFields(out, prefix.length, head);
  off = writeFields(out, off, rest);
  out.set(tail, off);
  return out;
}

function fieldLength(f: Uint8Array): number {
  if (f.length > 0xffff) u16be(f.length); // throws bad_length, as domain() would
  return 2 + f.length;
}

function writeFields(out: Uint8Array, off: number, fields: readonly Uint8Array[]): number {
  for (const f of fields) {
    out[off] = f.length >>> 8;
    out[off + 1] = f.length & 0xff;
    out.set(f, off + 2);
    off += 2 + f.length;
  }
  return off;
}

/**
 * A header checked and encoded once for both uses: the AES-GCM AAD and the Ed25519 signature
 * input, which frame the same id fields (so each is encoded once per message, not twice):
 *   AAD = domain(messageAad, chatId, messageId, epoch, kind, senderId, onBehalfOf, commitment)
 *   sig = domain(messageSig, chatId, messageId, epoch, kind, senderId, onBehalfOf, chainId,
 *                u64be(counter), prev, mentions, policy, commitment) ‖ encrypted_content
 */
interface EncodedHeader {
  header: MessageHeader;
  /** chatId, messageId, epoch, sender kind, sender id, on-behalf-of. */
  ids: Bytes[];
  commitment: Bytes;
  aad: Bytes;
}

// The chat id and epoch fields of a chat key's messages, encoded once per key (public values;
// the gateway opens a page of messages under one key per call).
const KEY_FIELDS = new WeakMap<ChatKey, { chatId: Bytes; epoch: Bytes }>();

function keyFields(key: ChatKey): { chatId: Bytes; epoch: Bytes } {
  let f = KEY_FIELDS.get(key);
  if (!f) {
    f = { chatId: idBytes(key.chatId, 'chat id'), epoch: epochBytes(key.epoch) };
    KEY_FIELDS.set(key, f);
  }
  return f;
}

function encodeHeader(
  h: MessageHeader,
  commitment: Uint8Array,
  /** `h.chatId` and `h.epoch` already encoded (they are the key's). */
  chat?: { chatId: Bytes; epoch: Bytes },
): EncodedHeader {
  assertUuidV7(h.messageId, 'message id');
  const ids = [
    chat ? chat.chatId : idBytes(h.chatId, 'chat id'),
    idBytes(h.messageId, 'message id'),
    chat ? chat.epoch : epochBytes(h.epoch),
    ...senderFields(h.sender),
  ];
  const commit = expectLength(commitment, KEY_COMMITMENT_BYTES, 'key commitment');
  return { header: h, ids, commitment: commit, aad: framed(AAD_PREFIX, ids, [commit]) };
}

function signatureInput(e: EncodedHeader, content: Uint8Array): Bytes {
  const h = e.header;
  checkChain(h.chain);
  return framed(
    SIG_PREFIX,
    e.ids,
    [
      h.chain.chainId,
      u64be(h.chain.counter),
      h.chain.prev,
      mentionsBytes(h.mentions),
      policyBytes(h.decryptionPermissions),
      e.commitment,
    ],
    content,
  );
}

/** The link a chain's next message names as `prev`. */
export function messageHash(signature: Uint8Array): Promise<Bytes> {
  return sha256(domain(Label.messageHash, expectLength(signature, SIGNATURE_BYTES, 'signature')));
}

/** Throws unless `encryptedContent` is a structurally valid v1 message envelope. */
export function checkMessageEnvelope(encryptedContent: Uint8Array): void {
  const r = new ByteReader(encryptedContent, 'message envelope');
  r.version(MESSAGE_ENVELOPE_VERSION);
  r.take(IV_BYTES + TAG_BYTES);
}

export interface SealedMessage {
  encryptedContent: Bytes;
  signature: Bytes;
  /** This message's hash: the `prev` of the sender's next message in the chat. */
  hash: Bytes;
}

/** `header.chatId`/`epoch` must be the key's. */
export async function sealMessage(p: {
  chatKey: ChatKey;
  header: Omit<MessageHeader, 'chatId' | 'epoch'>;
  body: MessageBody;
  /** The sender's Ed25519 private key (the gateway's for an agent). */
  signingKey: CryptoKey;
}): Promise<SealedMessage> {
  const header: MessageHeader = { ...p.header, chatId: p.chatKey.chatId, epoch: p.chatKey.epoch };
  const encoded = encodeHeader(header, p.chatKey.commitment);
  const plaintext = encodeMessageBody(p.body);
  try {
    const iv = randomBytes(IV_BYTES);
    const ct = await aesGcmEncrypt(p.chatKey.messageKey, iv, plaintext, encoded.aad);
    const encryptedContent = concat(Uint8Array.of(MESSAGE_ENVELOPE_VERSION), iv, ct);
    const signature = await ed25519Sign(p.signingKey, signatureInput(encoded, encryptedContent));
    return { encryptedContent, signature, hash: await messageHash(signature) };
  } finally {
    wipe(plaintext);
  }
}

/**
 * What the server runs on every incoming message: it holds only public keys, ciphertext and the
 * epoch's commitment from the membership log. Returns false for a signature that does not verify
 * (including a wrong-size one); throws a `CryptoError` for malformed input.
 */
export async function verifyMessageSignature(p: {
  header: MessageHeader;
  commitment: Uint8Array;
  encryptedContent: Uint8Array;
  signature: Uint8Array;
  signerEd25519PublicKey: Uint8Array;
}): Promise<boolean> {
  checkMessageEnvelope(p.encryptedContent);
  return ed25519Verify(
    p.signerEd25519PublicKey,
    p.signature,
    signatureInput(encodeHeader(p.header, p.commitment), p.encryptedContent),
  );
}

export interface OpenMessageParams {
  chatKey: ChatKey;
  header: Omit<MessageHeader, 'chatId' | 'epoch'>;
  encryptedContent: Uint8Array;
  signature: Uint8Array;
  signerEd25519PublicKey: Uint8Array;
}

/** The checks and encodings opening a message starts with. */
function prepareOpen(p: OpenMessageParams) {
  const k = p.chatKey;
  const h = p.header;
  const header: MessageHeader = {
    chatId: k.chatId,
    messageId: h.messageId,
    epoch: k.epoch,
    sender: h.sender,
    chain: h.chain,
    mentions: h.mentions,
    decryptionPermissions: h.decryptionPermissions,
  };
  if (!(p.signature instanceof Uint8Array) || p.signature.length !== SIGNATURE_BYTES) {
    throw new CryptoError('bad_signature', 'message signature is missing or not 64 bytes');
  }
  // version ‖ iv ‖ ciphertext ‖ tag, checked here: the slices below are within bounds.
  checkMessageEnvelope(p.encryptedContent);
  const content = toBytes(p.encryptedContent);
  const encoded = encodeHeader(header, k.commitment, keyFields(k));
  return {
    signed: signatureInput(encoded, content),
    aad: encoded.aad,
    iv: content.subarray(1, 1 + IV_BYTES),
    ct: content.subarray(1 + IV_BYTES),
  };
}

function decodeAndWipe(plaintext: Bytes): MessageBody {
  try {
    return decodeMessageBody(plaintext);
  } finally {
    wipe(plaintext);
  }
}

const BAD_SIGNATURE = 'message signature does not verify';

/**
 * `openMessageBody` without a promise, where the platform's Ed25519 and AES-GCM are synchronous
 * (the server's Node hooks): same checks, same order (signature first), same errors. `undefined`
 * when they are not (browsers), so the caller uses `openMessageBody`.
 */
export function openMessageBodySync(p: OpenMessageParams): MessageBody | undefined {
  const o = prepareOpen(p);
  const ok = ed25519VerifySync(p.signerEd25519PublicKey, p.signature, o.signed);
  if (ok === undefined) return undefined;
  if (!ok) throw new CryptoError('bad_signature', BAD_SIGNATURE);
  const plaintext = aesGcmDecryptSync(p.chatKey.messageKey, o.iv, o.ct, o.aad);
  return plaintext && decodeAndWipe(plaintext);
}

/**
 * Verifies the signer's signature, then decrypts and decodes; for a reader that does not follow
 * the sender's chain (the gateway), so without the message's hash.
 */
export async function openMessageBody(p: OpenMessageParams): Promise<MessageBody> {
  const o = prepareOpen(p);
  // Each step synchronously where the platform can (the server), else through WebCrypto.
  const ok =
    ed25519VerifySync(p.signerEd25519PublicKey, p.signature, o.signed) ??
    (await ed25519Verify(p.signerEd25519PublicKey, p.signature, o.signed));
  if (!ok) throw new CryptoError('bad_signature', BAD_SIGNATURE);
  const key = p.chatKey.messageKey;
  return decodeAndWipe(
    aesGcmDecryptSync(key, o.iv, o.ct, o.aad) ?? (await aesGcmDecrypt(key, o.iv, o.ct, o.aad)),
  );
}

/** Verifies the signer's signature, then decrypts and decodes; with the message's chain hash. */
export async function openMessage(
  p: OpenMessageParams,
): Promise<{ body: MessageBody; hash: Bytes }> {
  const body = await openMessageBody(p);
  return { body, hash: await messageHash(p.signature) };
}

/**
 * Deletion is a statement by the sender, not a null column: tombstone = Ed25519(signer,
 * "vutler/v1/message/tombstone/sig" ‖ 0x00 ‖ lp(chatId) ‖ lp(messageId) ‖ lp(senderKind) ‖
 * lp(senderId) ‖ lp(onBehalfOf) ‖ lp(chainId) ‖ lp(u64be counter) ‖ lp(messageHash)). It names
 * the deleted message's chain position and hash, so the chain still links across it.
 */
function tombstoneInput(t: TombstoneFields): Bytes {
  assertUuidV7(t.messageId, 'message id');
  return domain(
    Label.messageTombstoneSig,
    idBytes(t.chatId, 'chat id'),
    idBytes(t.messageId, 'message id'),
    ...senderFields(t.sender),
    expectLength(t.chainId, CHAIN_ID_BYTES, 'chain id'),
    u64be(t.counter),
    expectLength(t.hash, MESSAGE_HASH_BYTES, 'message hash'),
  );
}

export interface TombstoneFields {
  chatId: string;
  messageId: string;
  sender: SenderDescriptor;
  chainId: Uint8Array;
  counter: number;
  /** The deleted message's hash (from its signature). */
  hash: Uint8Array;
}

export function signTombstone(t: TombstoneFields, signingKey: CryptoKey): Promise<Bytes> {
  return ed25519Sign(signingKey, tombstoneInput(t));
}

export function verifyTombstone(
  t: TombstoneFields,
  tombstone: Uint8Array,
  signerEd25519PublicKey: Uint8Array,
): Promise<boolean> {
  return ed25519Verify(signerEd25519PublicKey, tombstone, tombstoneInput(t));
}
