-- Accounts, sessions and agent tokens (issue 4). Tokens are stored only as SHA-256 hashes;
-- the login secret only as a slow (scrypt) hash of the client-derived authKey.

ALTER TABLE users
ADD COLUMN auth_key_hash TEXT,
-- The public identity bundle {userId, x25519, ed25519, signature} (base64 keys; the Ed25519
-- signature binds the X25519 key to the user). Public by design.
ADD COLUMN identity_public JSONB,
-- The Ed25519 public key alone, so signature checks need no parsing.
ADD COLUMN identity_signing_key BYTEA,
ADD COLUMN encryption_enabled_at TIMESTAMPTZ;

ALTER TABLE sessions
-- 'recovery' sessions are short-lived and may only set a new passphrase.
ADD COLUMN purpose VARCHAR(20) NOT NULL DEFAULT 'login' CHECK (purpose IN ('login', 'recovery'));

CREATE TABLE agent_tokens (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    agent_name VARCHAR(100) NOT NULL CHECK (agent_name ~ '^[a-z0-9][a-z0-9_.-]{0,99}$'),
    label VARCHAR(200),
    token_hash BYTEA NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ
);
CREATE INDEX idx_agent_tokens_user ON agent_tokens (user_id);

-- One recovery wrap of the master key per user is live at a time.
CREATE UNIQUE INDEX idx_encryption_keys_one_live_master
    ON encryption_keys (user_id) WHERE key_type = 'master' AND revoked_at IS NULL;
CREATE UNIQUE INDEX idx_encryption_keys_one_live_identity
    ON encryption_keys (user_id) WHERE key_type = 'identity' AND revoked_at IS NULL;
