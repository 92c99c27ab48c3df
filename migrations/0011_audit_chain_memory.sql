-- Audit chain and checkpoints, agent memory (issue 12, memaudit part).

-- Insertion order of audit rows: a global sequence assigned when the gateway writes the row.
-- The sealer links each user's rows in this order into a hash chain (chain_index 0, 1, 2, ...);
-- a row is "pending" until then. Only the sealer writes the chain columns.
ALTER TABLE decryption_audit_log
ADD COLUMN log_seq BIGSERIAL,
ADD COLUMN chain_index BIGINT,
ADD COLUMN prev_hash BYTEA,
ADD COLUMN row_hash BYTEA;
CREATE UNIQUE INDEX idx_audit_chain ON decryption_audit_log (user_id, chain_index)
    WHERE chain_index IS NOT NULL;
CREATE INDEX idx_audit_pending ON decryption_audit_log (log_seq) WHERE chain_index IS NULL;

-- A checkpoint: the gateway's Ed25519 signature over (user, chain index, head hash).
CREATE TABLE audit_checkpoints (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    chain_index BIGINT NOT NULL CHECK (chain_index >= 0),
    head_hash BYTEA NOT NULL,
    gateway_public BYTEA NOT NULL,
    signature BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (user_id, chain_index)
);

-- One memory key per (user, agent): made by the user's client, stored wrapped under MK; the
-- gateway gets it only through a signed grant (agent_key_grants, resource_type 'memory',
-- resource_id = key_id).
CREATE TABLE agent_memory_keys (
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    agent_name VARCHAR(100) NOT NULL,
    key_id UUID NOT NULL UNIQUE,
    wrapped_key BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (user_id, agent_name)
);

-- Memory entries: ciphertext envelopes bound to (user, agent, key, entry id) and signed by the
-- writer (the gateway for the agent, the user's client for the user). Deleting is for good.
CREATE TABLE agent_memories (
    id UUID PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    agent_name VARCHAR(100) NOT NULL,
    key_id UUID NOT NULL REFERENCES agent_memory_keys(key_id) ON DELETE CASCADE,
    written_by VARCHAR(10) NOT NULL CHECK (written_by IN ('agent', 'user')),
    envelope BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_agent_memories_pair ON agent_memories (user_id, agent_name, created_at DESC);
