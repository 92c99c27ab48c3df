-- VDrive (issue 10): chunked encrypted uploads, previews, shares into chats.
-- Nothing here is plaintext of the user's: metadata, file key, preview and header are envelopes
-- made by the client; the storage object id is sealed with the server's at-rest key.

ALTER TABLE files
-- The stream header {v, file id, chunk size, salt, nonce prefix}: public parameters, needed to
-- serve the whole file as header ‖ chunks.
ADD COLUMN file_header BYTEA,
ADD COLUMN chunk_size INTEGER CHECK (chunk_size > 0),
-- Sealed under PVK by the client (a thumbnail or a text excerpt); small, so kept in the row.
ADD COLUMN preview_encrypted BYTEA,
ADD COLUMN completed_at TIMESTAMPTZ,
-- Set once the blobs of a deleted or abandoned file are gone from storage.
ADD COLUMN purged_at TIMESTAMPTZ;
-- encryption_algorithm keeps the seed's default; every VDrive row sets 'AES-256-GCM-STREAM-v1'.
CREATE INDEX idx_files_owner_list ON files (owner_id, created_at DESC, id DESC) WHERE status = 'ready';
CREATE INDEX idx_files_reap ON files (updated_at) WHERE purged_at IS NULL AND status <> 'ready';

-- Which chunks of an upload are on storage, with their sizes: the resume status and the check
-- that makes `complete` refuse a file with a missing or wrong-sized chunk.
CREATE TABLE file_chunks (
    file_id UUID NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL CHECK (idx >= 0),
    size_bytes INTEGER NOT NULL CHECK (size_bytes >= 0),
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (file_id, idx)
);

ALTER TABLE vdrive_chat_shares
ADD CONSTRAINT fk_vdrive_shares_file FOREIGN KEY (file_id) REFERENCES files(id),
-- The chat epoch whose key wraps the share.
ADD COLUMN epoch INTEGER CHECK (epoch >= 0),
ADD COLUMN revoked_at TIMESTAMPTZ;

-- The share key wrap is an encryption_keys row of type 'file' (DESIGN §7), owned by the sharer,
-- removed when the share is revoked.
ALTER TABLE encryption_keys
ADD COLUMN share_id UUID REFERENCES vdrive_chat_shares(id) ON DELETE CASCADE;
CREATE UNIQUE INDEX idx_encryption_keys_share ON encryption_keys (share_id) WHERE key_type = 'file';
