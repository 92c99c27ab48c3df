import { base64Encode } from '../crypto/bytes.ts';
import { fingerprintDigest, identityPublicFromJson } from '../crypto/identity.ts';
import { type MembershipEntry, membershipEntryToJson } from '../crypto/membership.ts';
import { AppError, ConflictError } from '../errors.ts';
import type { ChatView, MembershipEntryJson, MessageView } from '../wire/chat.ts';
import type { ChatRow, LogRow, MemberRow, MessageRow, SignerRow } from './chat.repository.ts';

/** Row → wire mappers and the errors both chat services raise. */

export class BadSignatureError extends AppError {
  constructor(detail: string) {
    super(400, 'bad-signature', 'Bad signature', detail);
  }
}

export class StaleEpochError extends AppError {
  constructor(currentEpoch: number) {
    super(409, 'stale-epoch', 'Stale epoch', `The chat has rotated to epoch ${currentEpoch}.`, {
      extra: { currentEpoch },
    });
  }
}

/** A membership-log entry that does not verify or break a rule: nothing is stored. */
export class BadLogEntryError extends AppError {
  constructor(detail: string) {
    super(400, 'bad-log-entry', 'Bad membership-log entry', detail);
  }
}

/** The log moved on since the client read it (another member's change won the race). */
export class StaleLogError extends AppError {
  constructor(length: number) {
    super(409, 'stale-log', 'Stale membership log', `The log has ${length} entries now.`, {
      extra: { logLength: length },
    });
  }
}

export function messageView(m: MessageRow): MessageView {
  return {
    id: m.id,
    chatId: m.chat_id,
    seq: Number(m.seq),
    senderId: m.sender_id,
    senderAgent: m.sender_agent,
    epoch: m.epoch,
    ciphertext: m.encrypted_content ? base64Encode(m.encrypted_content) : null,
    signature: m.signature ? base64Encode(m.signature) : null,
    chain:
      m.chain_id && m.chain_prev && m.chain_counter !== null
        ? {
            id: base64Encode(m.chain_id),
            counter: Number(m.chain_counter),
            prev: base64Encode(m.chain_prev),
          }
        : null,
    tombstone: m.tombstone ? base64Encode(m.tombstone) : null,
    mentions: m.mentions,
    decryptionPermissions: m.decryption_permissions,
    createdAt: m.created_at.toISOString(),
    deletedAt: m.deleted_at?.toISOString() ?? null,
  };
}

export function chatView(c: ChatRow, members: MemberRow[]): ChatView {
  return {
    id: c.id,
    kind: c.kind,
    titleEncrypted: c.title_encrypted ? base64Encode(c.title_encrypted) : null,
    createdBy: c.created_by,
    currentEpoch: c.current_epoch,
    lastSeq: Number(c.last_seq),
    logLength: c.log_length,
    createdAt: c.created_at.toISOString(),
    members: members
      .filter((m) => !m.removed_at)
      .map((m) => ({ userId: m.user_id, role: m.role, joinedEpoch: m.joined_epoch })),
    formerMembers: members
      .filter((m) => m.removed_at)
      .map((m) => ({ userId: m.user_id, removedAt: m.removed_at!.toISOString() })),
  };
}

export function logEntryOfRow(chatId: string, r: LogRow): MembershipEntry {
  return {
    chatId,
    position: r.position,
    epoch: r.epoch,
    action: r.action,
    actorId: r.actor_id,
    subjectId: r.subject_id,
    subjectFingerprint: r.subject_fingerprint,
    role: r.role,
    prevHash: r.prev_hash,
    keyCommitment: r.key_commitment,
    signature: r.signature,
  };
}

export function logView(chatId: string, rows: LogRow[]): MembershipEntryJson[] {
  return rows.map((r) => membershipEntryToJson(logEntryOfRow(chatId, r)));
}

/** A person without a registered identity key cannot sign, so cannot chat yet. */
export function requireSigningKey(key: Uint8Array | null | undefined): Uint8Array {
  if (!key) {
    throw new ConflictError(
      'encryption-not-set-up',
      'Set up end-to-end encryption before chatting.',
    );
  }
  return key;
}

/** A registered user's signing key and identity digest (hex), as the server knows them. */
export interface KnownIdentity {
  signingKey: Uint8Array;
  fingerprint: string;
}

export async function knownIdentity(row: SignerRow): Promise<KnownIdentity> {
  const signingKey = requireSigningKey(row.identity_signing_key);
  if (!row.identity_public) requireSigningKey(null);
  const digest = await fingerprintDigest(identityPublicFromJson(row.identity_public));
  return { signingKey, fingerprint: Buffer.from(digest).toString('hex') };
}
