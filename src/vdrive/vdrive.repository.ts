import type { Queryable } from '../db/pool.ts';

export interface FileRow {
  id: string;
  owner_id: string;
  status: 'uploading' | 'ready' | 'deleted';
  encrypted_metadata: { v: number; ct: string } | null;
  file_key_encrypted: Buffer;
  file_header: Buffer;
  chunk_size: number;
  chunk_count: number;
  stored_size_bytes: string;
  synology_path_encrypted: string;
  has_preview: boolean;
  created_at: Date;
  completed_at: Date | null;
  updated_at: Date;
}

export interface ShareRow {
  id: string;
  file_id: string;
  chat_id: string;
  shared_by: string;
  message_id: string | null;
  access_permissions: { read?: boolean; download?: boolean };
  epoch: number;
  expires_at: Date | null;
  created_at: Date;
  revoked_at: Date | null;
  envelope: Buffer | null;
}

const FILE_COLUMNS = `id, owner_id, status, encrypted_metadata, file_key_encrypted, file_header, chunk_size,
  chunk_count, stored_size_bytes, synology_path_encrypted, preview_encrypted IS NOT NULL AS has_preview,
  created_at, completed_at, updated_at`;

const SHARE_COLUMNS = `s.id, s.file_id, s.chat_id, s.shared_by, s.message_id, s.access_permissions, s.epoch,
  s.expires_at, s.created_at, s.revoked_at, k.encrypted_key AS envelope`;

const SQL = {
  // Serialises quota checks per owner: two concurrent creates cannot both squeeze under it.
  lockOwner: `SELECT pg_advisory_xact_lock(hashtextextended('vdrive-quota:' || $1::text, 0))`,
  usedBytes: `SELECT COALESCE(SUM(stored_size_bytes), 0)::text AS used FROM files
    WHERE owner_id = $1 AND status IN ('uploading', 'ready')`,
  insertFile: `INSERT INTO files (id, owner_id, status, encrypted_metadata, file_key_encrypted, file_header,
      chunk_size, chunk_count, stored_size_bytes, synology_path_encrypted, preview_encrypted, encryption_algorithm)
    VALUES ($1, $2, 'uploading', $3, $4, $5, $6, $7, $8, $9, $10, 'AES-256-GCM-STREAM-v1')
    ON CONFLICT (id) DO NOTHING RETURNING ${FILE_COLUMNS}`,
  fileOfOwner: `SELECT ${FILE_COLUMNS} FROM files WHERE id = $1 AND owner_id = $2 AND status <> 'deleted'`,
  fileById: `SELECT ${FILE_COLUMNS} FROM files WHERE id = $1 AND status = 'ready'`,
  lockFile: `SELECT ${FILE_COLUMNS} FROM files WHERE id = $1 AND owner_id = $2 AND status <> 'deleted' FOR UPDATE`,
  // One statement, one round trip, committed durably before the chunk is acknowledged. Only
  // while the upload is open: the KEY SHARE lock makes it wait for (and then see) a concurrent
  // complete or delete, which lock the row FOR UPDATE, while concurrent chunk records of the
  // same file do not wait for each other. updated_at (what the reaper ages uploads by, in hours)
  // is moved at most once a minute, not once per chunk: each move is a new row version and
  // an index entry.
  recordChunk: `WITH f AS (
      SELECT id FROM files WHERE id = $1 AND status = 'uploading' FOR KEY SHARE
    ), touched AS (
      UPDATE files SET updated_at = now()
      WHERE id IN (SELECT id FROM f) AND updated_at < now() - interval '1 minute'
    )
    INSERT INTO file_chunks (file_id, idx, size_bytes) SELECT f.id, $2, $3 FROM f
    ON CONFLICT (file_id, idx) DO UPDATE SET size_bytes = EXCLUDED.size_bytes, created_at = now()
    RETURNING idx`,
  presentChunks: `SELECT idx, size_bytes FROM file_chunks WHERE file_id = $1 ORDER BY idx`,
  markReady: `UPDATE files SET status = 'ready', completed_at = now(), updated_at = now() WHERE id = $1`,
  listFirst: `SELECT ${FILE_COLUMNS} FROM files WHERE owner_id = $1 AND status = 'ready'
    ORDER BY created_at DESC, id DESC LIMIT $2`,
  listAfter: `SELECT ${FILE_COLUMNS} FROM files WHERE owner_id = $1 AND status = 'ready'
    AND (created_at, id) < ($3::timestamptz, $4::uuid) ORDER BY created_at DESC, id DESC LIMIT $2`,
  preview: `SELECT preview_encrypted FROM files WHERE id = $1 AND status = 'ready'`,
  markDeleted: `UPDATE files SET status = 'deleted', deleted_at = now(), updated_at = now()
    WHERE id = $1 AND owner_id = $2 AND status <> 'deleted' RETURNING id`,
  ownsDeleted: `SELECT 1 FROM files WHERE id = $1 AND owner_id = $2 AND status = 'deleted'`,
  revokeSharesOfFile: `UPDATE vdrive_chat_shares SET revoked_at = now() WHERE file_id = $1 AND revoked_at IS NULL`,
  deleteWrapsOfFile: `DELETE FROM encryption_keys WHERE key_type = 'file'
    AND share_id IN (SELECT id FROM vdrive_chat_shares WHERE file_id = $1)`,
  // Abandoned uploads become deleted (never listed), then purged like any deleted file.
  abandon: `UPDATE files SET status = 'deleted', deleted_at = now()
    WHERE status = 'uploading' AND updated_at < $1 RETURNING id`,
  toPurge: `SELECT id, synology_path_encrypted, chunk_count FROM files
    WHERE status = 'deleted' AND purged_at IS NULL ORDER BY updated_at LIMIT $1`,
  markPurged: `UPDATE files SET purged_at = now() WHERE id = $1`,
  liveObjects: `SELECT id, synology_path_encrypted, chunk_count FROM files
    WHERE purged_at IS NULL AND synology_path_encrypted IS NOT NULL`,
  signingKey: `SELECT identity_signing_key FROM users WHERE id = $1 AND COALESCE(encryption_enabled, false)`,
  insertShare: `INSERT INTO vdrive_chat_shares (id, file_id, chat_id, shared_by, message_id, access_permissions, epoch, expires_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING RETURNING id`,
  insertShareWrap: `INSERT INTO encryption_keys (user_id, key_type, encrypted_key, key_params, chat_id, epoch, share_id)
    VALUES ($1, 'file', $2, jsonb_build_object('v', 2, 'mode', $3::text), $4, $5, $6)`,
  share: `SELECT ${SHARE_COLUMNS} FROM vdrive_chat_shares s
    LEFT JOIN encryption_keys k ON k.share_id = s.id AND k.key_type = 'file'
    WHERE s.id = $1 AND s.revoked_at IS NULL`,
  revokeShare: `UPDATE vdrive_chat_shares SET revoked_at = now() WHERE id = $1 AND shared_by = $2 AND revoked_at IS NULL RETURNING id`,
  deleteShareWrap: `DELETE FROM encryption_keys WHERE share_id = $1 AND key_type = 'file'`,
} as const;

/** The only SQL of VDrive. */
export class VdriveRepository {
  constructor(private readonly db: Queryable) {}

  async lockOwner(ownerId: string): Promise<void> {
    await this.db.query(SQL.lockOwner, [ownerId]);
  }

  async usedBytes(ownerId: string): Promise<number> {
    return Number((await this.db.query<{ used: string }>(SQL.usedBytes, [ownerId])).rows[0]!.used);
  }

  async insertFile(f: {
    id: string;
    ownerId: string;
    encryptedMetadata: string;
    fileKeyEncrypted: Uint8Array;
    header: Uint8Array;
    chunkSize: number;
    chunkCount: number;
    storedSize: number;
    sealedObject: string;
    preview: Uint8Array | null;
  }): Promise<FileRow | undefined> {
    const { rows } = await this.db.query<FileRow>(SQL.insertFile, [
      f.id,
      f.ownerId,
      { v: 1, ct: f.encryptedMetadata },
      Buffer.from(f.fileKeyEncrypted),
      Buffer.from(f.header),
      f.chunkSize,
      f.chunkCount,
      f.storedSize,
      f.sealedObject,
      f.preview ? Buffer.from(f.preview) : null,
    ]);
    return rows[0];
  }

  async fileOfOwner(id: string, ownerId: string) {
    return (await this.db.query<FileRow>(SQL.fileOfOwner, [id, ownerId])).rows[0];
  }

  async readyFile(id: string) {
    return (await this.db.query<FileRow>(SQL.fileById, [id])).rows[0];
  }

  async lockFile(id: string, ownerId: string) {
    return (await this.db.query<FileRow>(SQL.lockFile, [id, ownerId])).rows[0];
  }

  /** False if the upload is no longer open (completed or deleted meanwhile). */
  async recordChunk(fileId: string, idx: number, size: number): Promise<boolean> {
    return ((await this.db.query(SQL.recordChunk, [fileId, idx, size])).rowCount ?? 0) > 0;
  }

  async presentChunks(fileId: string) {
    return (await this.db.query<{ idx: number; size_bytes: number }>(SQL.presentChunks, [fileId]))
      .rows;
  }

  async markReady(fileId: string) {
    await this.db.query(SQL.markReady, [fileId]);
  }

  async list(ownerId: string, limit: number, after?: { createdAt: string; id: string }) {
    if (!after) return (await this.db.query<FileRow>(SQL.listFirst, [ownerId, limit])).rows;
    return (
      await this.db.query<FileRow>(SQL.listAfter, [ownerId, limit, after.createdAt, after.id])
    ).rows;
  }

  async preview(fileId: string): Promise<Buffer | null> {
    const { rows } = await this.db.query<{ preview_encrypted: Buffer | null }>(SQL.preview, [
      fileId,
    ]);
    return rows[0]?.preview_encrypted ?? null;
  }

  async markDeleted(fileId: string, ownerId: string): Promise<boolean> {
    return ((await this.db.query(SQL.markDeleted, [fileId, ownerId])).rowCount ?? 0) > 0;
  }

  async ownsDeleted(fileId: string, ownerId: string): Promise<boolean> {
    return ((await this.db.query(SQL.ownsDeleted, [fileId, ownerId])).rowCount ?? 0) > 0;
  }

  async revokeSharesOfFile(fileId: string) {
    await this.db.query(SQL.deleteWrapsOfFile, [fileId]);
    await this.db.query(SQL.revokeSharesOfFile, [fileId]);
  }

  async abandonOlderThan(cutoff: Date): Promise<string[]> {
    return (await this.db.query<{ id: string }>(SQL.abandon, [cutoff])).rows.map((r) => r.id);
  }

  async toPurge(limit: number) {
    return (
      await this.db.query<{
        id: string;
        synology_path_encrypted: string | null;
        chunk_count: number;
      }>(SQL.toPurge, [limit])
    ).rows;
  }

  async markPurged(fileId: string) {
    await this.db.query(SQL.markPurged, [fileId]);
  }

  async liveObjects() {
    return (
      await this.db.query<{ id: string; synology_path_encrypted: string; chunk_count: number }>(
        SQL.liveObjects,
      )
    ).rows;
  }

  async signingKey(userId: string): Promise<Buffer | null> {
    const { rows } = await this.db.query<{ identity_signing_key: Buffer | null }>(SQL.signingKey, [
      userId,
    ]);
    return rows[0]?.identity_signing_key ?? null;
  }

  async insertShare(s: {
    id: string;
    fileId: string;
    chatId: string;
    sharedBy: string;
    messageId: string;
    download: boolean;
    epoch: number;
    expiresAt: Date | null;
    envelope: Uint8Array;
  }): Promise<boolean> {
    const inserted = await this.db.query(SQL.insertShare, [
      s.id,
      s.fileId,
      s.chatId,
      s.sharedBy,
      s.messageId,
      { read: true, download: s.download },
      s.epoch,
      s.expiresAt,
    ]);
    if ((inserted.rowCount ?? 0) === 0) return false;
    await this.db.query(SQL.insertShareWrap, [
      s.sharedBy,
      Buffer.from(s.envelope),
      s.download ? 'download' : 'preview',
      s.chatId,
      s.epoch,
      s.id,
    ]);
    return true;
  }

  async share(id: string) {
    return (await this.db.query<ShareRow>(SQL.share, [id])).rows[0];
  }

  async revokeShare(id: string, sharedBy: string): Promise<boolean> {
    const revoked = (await this.db.query(SQL.revokeShare, [id, sharedBy])).rowCount ?? 0;
    if (revoked) await this.db.query(SQL.deleteShareWrap, [id]);
    return revoked > 0;
  }
}
