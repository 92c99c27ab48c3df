import {
  ByteReader,
  type Bytes,
  base64Decode,
  base64Encode,
  concat,
  expectLength,
  u8,
  wipe,
} from './bytes.ts';
import { type ChatKey, exportChatKeyRaw, importChatKey } from './chatkeys.ts';
import { CryptoError } from './errors.ts';
import { exportFileKeyRaw, type FileKey, importFileKey } from './files.ts';
import { fingerprint, generateKeyPairsRaw, type IdentityKeys, importKeyPairs } from './identity.ts';
import { domain, epochBytes, idBytes, Label } from './labels.ts';
import { ed25519Sign, ed25519Verify, importAesKey, KEY_BYTES } from './primitives.ts';
import { openSigned, sealedBodyLength, sealSigned, verifySealedSignature } from './sealedbox.ts';

/**
 * Agent grant (`agent_key_grants`): a resource key wrapped to the gateway's X25519 key and signed
 * by the owner — the same signed sealed box as a chat-key wrap (see sealedbox.ts):
 *   0x01 ‖ eph_pub(32) ‖ iv(12) ‖ AES-GCM(wk, key)(48) ‖ sig(64)           = 157 bytes
 *   wk  = HKDF(X25519(eph, gateway), salt = eph_pub ‖ gateway_pub, "vutler/v1/grant")
 *   AAD = "vutler/v1/grant/aad" ‖ 0x00 ‖ lp(userId) ‖ lp(agentId) ‖ lp(resourceType) ‖
 *         lp(resourceId) ‖ lp(u32be epoch) ‖ lp(grantId) ‖ lp(accessLevel) ‖ lp(expiry)
 *   sig = Ed25519(owner, "vutler/v1/grant/sig" ‖ 0x00 ‖ (same eight fields) ‖ body)
 * Files and memory have no epochs; they are bound with epoch 0. `expiry` is the decimal
 * milliseconds since 1970 or "none": what the grant allows (which grant, which level, until
 * when) is signed, so a database edit cannot widen it.
 */
export const GRANT_ENVELOPE_BYTES = sealedBodyLength(KEY_BYTES) + 64;

export type GrantResourceType = 'chat' | 'files' | 'memory';

export type GrantAccessLevel = 'decrypt_ephemeral';

export interface GrantContext {
  userId: string;
  agentId: string;
  resourceType: GrantResourceType;
  resourceId: string;
  epoch: number;
  /** Shared by every epoch wrap of one grant; revoking deletes them together. */
  grantId: string;
  accessLevel: GrantAccessLevel;
  /** Milliseconds since 1970, or null for "until revoked". */
  expiresAt: number | null;
}

/** The grant fields the owner chooses beside the key itself. */
export interface GrantTerms {
  grantId: string;
  accessLevel: GrantAccessLevel;
  expiresAt: number | null;
}

/** Whether a grant's signed expiry has passed at `now`. */
export function grantExpired(c: Pick<GrantContext, 'expiresAt'>, now = Date.now()): boolean {
  return c.expiresAt !== null && c.expiresAt <= now;
}

/** What the owner grants: a chat epoch key, a file key, or a memory key. */
export type GrantSubject =
  | { resourceType: 'chat'; chatKey: ChatKey }
  | { resourceType: 'files'; fileKey: FileKey }
  | { resourceType: 'memory'; resourceId: string; memoryKey: Uint8Array };

export type OpenedGrant =
  | { resourceType: 'chat'; chatKey: ChatKey }
  | { resourceType: 'files'; fileKey: FileKey }
  /** AES-256-GCM, non-extractable. */
  | { resourceType: 'memory'; memoryKey: CryptoKey };

function fields(c: GrantContext): Bytes[] {
  if (c.resourceType !== 'chat' && c.resourceType !== 'files' && c.resourceType !== 'memory') {
    throw new CryptoError('bad_input', `unknown grant resource type ${String(c.resourceType)}`);
  }
  if (c.resourceType !== 'chat' && c.epoch !== 0) {
    throw new CryptoError('bad_input', `${c.resourceType} grants are bound with epoch 0`);
  }
  if (c.accessLevel !== 'decrypt_ephemeral') {
    throw new CryptoError('bad_input', 'only decrypt_ephemeral grants carry a key');
  }
  if (c.expiresAt !== null && (!Number.isSafeInteger(c.expiresAt) || c.expiresAt < 0)) {
    throw new CryptoError('bad_input', 'grant expiry must be null or whole milliseconds');
  }
  return [
    idBytes(c.userId, 'user id'),
    idBytes(c.agentId, 'agent id'),
    idBytes(c.resourceType, 'resource type'),
    idBytes(c.resourceId, 'resource id'),
    epochBytes(c.epoch),
    idBytes(c.grantId, 'grant id'),
    idBytes(c.accessLevel, 'access level'),
    idBytes(c.expiresAt === null ? 'none' : String(c.expiresAt), 'expiry'),
  ];
}

async function subjectMaterial(
  s: GrantSubject,
): Promise<{ resourceId: string; epoch: number; raw: Bytes }> {
  switch (s.resourceType) {
    case 'chat':
      return {
        resourceId: s.chatKey.chatId,
        epoch: s.chatKey.epoch,
        raw: await exportChatKeyRaw(s.chatKey),
      };
    case 'files':
      return { resourceId: s.fileKey.fileId, epoch: 0, raw: await exportFileKeyRaw(s.fileKey) };
    case 'memory':
      return {
        resourceId: s.resourceId,
        epoch: 0,
        raw: expectLength(s.memoryKey, KEY_BYTES, 'memory key').slice(),
      };
    default:
      throw new CryptoError('bad_input', 'unknown grant subject');
  }
}

/** Owner side. Returns the envelope and the context it is bound to (store both). */
export async function createGrant(p: {
  userId: string;
  agentId: string;
  subject: GrantSubject;
  terms: GrantTerms;
  gatewayX25519PublicKey: Uint8Array;
  /** The owner's Ed25519 private key. */
  ownerSigningKey: CryptoKey;
}): Promise<{ envelope: Bytes; context: GrantContext }> {
  const { resourceId, epoch, raw } = await subjectMaterial(p.subject);
  try {
    const context: GrantContext = {
      userId: p.userId,
      agentId: p.agentId,
      resourceType: p.subject.resourceType,
      resourceId,
      epoch,
      grantId: p.terms.grantId,
      accessLevel: p.terms.accessLevel,
      expiresAt: p.terms.expiresAt,
    };
    const f = fields(context);
    const envelope = await sealSigned({
      label: Label.grant,
      recipientPublicKey: p.gatewayX25519PublicKey,
      payload: raw,
      aad: domain(Label.grantAad, ...f),
      sigPrefix: domain(Label.grantSig, ...f),
      signingKey: p.ownerSigningKey,
    });
    return { envelope, context };
  } finally {
    wipe(raw);
  }
}

/** Server-side check before storing a grant: is it signed by the owner's registered key? */
export function verifyGrantSignature(p: {
  context: GrantContext;
  envelope: Uint8Array;
  ownerEd25519PublicKey: Uint8Array;
}): Promise<boolean> {
  return verifySealedSignature({
    envelope: p.envelope,
    payloadBytes: KEY_BYTES,
    sigPrefix: domain(Label.grantSig, ...fields(p.context)),
    signerPublicKey: p.ownerEd25519PublicKey,
    what: 'grant',
  });
}

/**
 * Gateway side: verifies the owner's signature first (`bad_signature` otherwise), then unwraps
 * into non-extractable keys for this one tool call.
 */
export async function openGrant(p: {
  context: GrantContext;
  envelope: Uint8Array;
  ownerEd25519PublicKey: Uint8Array;
  gateway: GatewayKeys;
}): Promise<OpenedGrant> {
  const f = fields(p.context);
  const raw = await openSigned({
    label: Label.grant,
    recipient: p.gateway.x25519,
    envelope: p.envelope,
    payloadBytes: KEY_BYTES,
    aad: domain(Label.grantAad, ...f),
    sigPrefix: domain(Label.grantSig, ...f),
    signerPublicKey: p.ownerEd25519PublicKey,
    what: 'grant',
  });
  try {
    const { resourceType, resourceId, epoch } = p.context;
    if (resourceType === 'chat') {
      return { resourceType, chatKey: await importChatKey(raw, resourceId, epoch, false) };
    }
    if (resourceType === 'files') {
      return { resourceType, fileKey: await importFileKey(raw, resourceId, false) };
    }
    return { resourceType, memoryKey: await importAesKey(raw) };
  } finally {
    wipe(raw);
  }
}

// ---------------------------------------------------------------------------------------------
// The gateway's long-term key pair

/** Same shape as a person's identity: X25519 receives grants, Ed25519 signs agent messages. */
export type GatewayKeys = IdentityKeys;

const GATEWAY_KEY_PREFIX = 'vutler-gateway-key:';
const GATEWAY_KEY_VERSION = 1;

/**
 * Key file / `VUTLER_GATEWAY_KEY` format, one line:
 *   "vutler-gateway-key:" ‖ base64(0x01 ‖ x25519Priv ‖ x25519Pub ‖ ed25519Seed ‖ ed25519Pub)
 * It is a secret: whoever holds it can open every live grant.
 */
export async function generateGatewayKeys(): Promise<{ keys: GatewayKeys; serialized: string }> {
  const { keys, raw } = await generateKeyPairsRaw();
  const blob = concat(
    u8(GATEWAY_KEY_VERSION),
    raw.x25519Private,
    raw.x25519Public,
    raw.ed25519Seed,
    raw.ed25519Public,
  );
  try {
    return { keys, serialized: GATEWAY_KEY_PREFIX + base64Encode(blob) };
  } finally {
    wipe(blob, raw.x25519Private, raw.ed25519Seed);
  }
}

/** Parses the key file, checks each public key matches its private key, returns non-extractable keys. */
export async function parseGatewayKeys(serialized: string): Promise<GatewayKeys> {
  if (typeof serialized !== 'string')
    throw new CryptoError('bad_encoding', 'gateway key must be a string');
  const text = serialized.trim();
  if (!text.startsWith(GATEWAY_KEY_PREFIX)) {
    throw new CryptoError('bad_encoding', `gateway key must start with "${GATEWAY_KEY_PREFIX}"`);
  }
  const blob = base64Decode(text.slice(GATEWAY_KEY_PREFIX.length));
  try {
    const r = new ByteReader(blob, 'gateway key');
    r.version(GATEWAY_KEY_VERSION);
    const xPriv = r.take(32);
    const xPub = r.take(32);
    const edSeed = r.take(32);
    const edPub = r.take(32);
    r.end();
    return await importKeyPairs(xPriv, xPub, edSeed, edPub);
  } finally {
    wipe(blob);
  }
}

/** What clients need to make grants and to verify agent messages. */
export function gatewayPublicKeysToJson(keys: GatewayKeys): { x25519: string; ed25519: string } {
  return {
    x25519: base64Encode(keys.x25519.publicKey),
    ed25519: base64Encode(keys.ed25519.publicKey),
  };
}

/** The public half of the gateway keys and its fingerprint, as `GET /api/gateway/keys` serves it. */
export interface GatewayPublicBundle {
  x25519: string;
  ed25519: string;
  fingerprint: string;
}

export async function gatewayPublicBundle(keys: GatewayKeys): Promise<GatewayPublicBundle> {
  return {
    ...gatewayPublicKeysToJson(keys),
    fingerprint: await fingerprint({
      ed25519PublicKey: keys.ed25519.publicKey,
      x25519PublicKey: keys.x25519.publicKey,
    }),
  };
}

function pinInput(userId: string, ownerEd25519PublicKey: Uint8Array): Bytes {
  return domain(
    Label.gatewayPinSig,
    idBytes(userId, 'user id'),
    expectLength(ownerEd25519PublicKey, 32, 'owner Ed25519 public key'),
  );
}

/**
 * The gateway's pin of an owner's identity signing key: stored in PostgreSQL, but only the
 * gateway can make one, so a database write cannot swap the key grants are checked against.
 */
export function signIdentityPin(
  gateway: GatewayKeys,
  userId: string,
  ownerEd25519PublicKey: Uint8Array,
): Promise<Bytes> {
  return ed25519Sign(gateway.ed25519.privateKey, pinInput(userId, ownerEd25519PublicKey));
}

export function verifyIdentityPin(
  gatewayEd25519PublicKey: Uint8Array,
  userId: string,
  ownerEd25519PublicKey: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  return ed25519Verify(gatewayEd25519PublicKey, signature, pinInput(userId, ownerEd25519PublicKey));
}
