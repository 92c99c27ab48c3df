-- Phase-1 tables that the seed's Phase-2 document ALTERs (DESIGN §7).
-- The seed never shows them, so their columns are the minimum each later feature needs.
-- Deliberately absent: any plaintext message body or file name column. Vutler has no
-- unencrypted Phase 1; the seed's encrypted columns (0002) are the only content columns.

CREATE TABLE users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    email VARCHAR(254) NOT NULL,
    display_name VARCHAR(100),
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
-- Emails are compared case-insensitively; the service stores them lower-cased.
CREATE UNIQUE INDEX idx_users_email ON users (lower(email));

CREATE TABLE sessions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- SHA-256 of the opaque session token; the token itself is never stored.
    token_hash BYTEA NOT NULL UNIQUE,
    user_agent TEXT,
    ip_address INET,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    last_seen_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX idx_sessions_user ON sessions (user_id);

CREATE TABLE chats (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    kind VARCHAR(10) NOT NULL CHECK (kind IN ('direct', 'group')),
    -- Title sealed under the chat key by a member's client; the server cannot read it.
    title_encrypted BYTEA,
    created_by UUID NOT NULL REFERENCES users(id),
    current_epoch INTEGER NOT NULL DEFAULT 0 CHECK (current_epoch >= 0),
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE TABLE chat_members (
    chat_id UUID NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    user_id UUID NOT NULL REFERENCES users(id),
    role VARCHAR(20) NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'admin', 'member')),
    joined_epoch INTEGER NOT NULL DEFAULT 0,
    joined_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    removed_at TIMESTAMPTZ,
    PRIMARY KEY (chat_id, user_id)
);
CREATE INDEX idx_chat_members_user ON chat_members (user_id) WHERE removed_at IS NULL;

CREATE TABLE messages (
    -- UUIDv7 made by the sending client, so retries are idempotent and ids sort by time.
    id UUID PRIMARY KEY,
    chat_id UUID NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    sender_id UUID REFERENCES users(id),
    -- Agent name when the gateway posts on an agent's behalf (sender_id is then the grantor).
    sender_agent VARCHAR(100),
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    edited_at TIMESTAMPTZ,
    deleted_at TIMESTAMPTZ
);
CREATE INDEX idx_messages_chat_id ON messages (chat_id, id);

CREATE TABLE files (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id UUID NOT NULL REFERENCES users(id),
    -- Size of the stored ciphertext; the plaintext size lives in the encrypted metadata.
    stored_size_bytes BIGINT NOT NULL DEFAULT 0 CHECK (stored_size_bytes >= 0),
    chunk_count INTEGER NOT NULL DEFAULT 0 CHECK (chunk_count >= 0),
    status VARCHAR(20) NOT NULL DEFAULT 'uploading' CHECK (status IN ('uploading', 'ready', 'deleted')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    deleted_at TIMESTAMPTZ
);
CREATE INDEX idx_files_owner ON files (owner_id) WHERE deleted_at IS NULL;
