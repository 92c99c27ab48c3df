-- Agent Access Gateway (issue 11): grants wrapped to the gateway key, the gateway's pins of
-- owners' identity keys, and the audit columns each MCP tool call fills in.

-- One row per wrapped resource key. A grant (grant_id) covers one resource for one agent; a
-- chat grant holds one row per epoch it opens ("from now on": the current epoch and those
-- re-wrapped after rotations; "all history": every epoch the owner held). The envelope is
-- signed by the owner over (user, agent, resource type, resource id, epoch, grant id, access
-- level, expiry), so editing any column here makes the gateway refuse it.
CREATE TABLE agent_key_grants (
    grant_id UUID NOT NULL,
    epoch INTEGER NOT NULL DEFAULT 0 CHECK (epoch >= 0),
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    agent_name VARCHAR(100) NOT NULL,
    resource_type VARCHAR(50) NOT NULL CHECK (resource_type IN ('chat', 'files', 'memory')),
    resource_id UUID NOT NULL,
    access_level VARCHAR(50) NOT NULL CHECK (access_level = 'decrypt_ephemeral'),
    scope VARCHAR(20) NOT NULL CHECK (scope IN ('from_now_on', 'all_history')),
    expires_at TIMESTAMPTZ,
    envelope BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (grant_id, epoch)
);
CREATE UNIQUE INDEX idx_agent_key_grants_resource
    ON agent_key_grants (user_id, agent_name, resource_type, resource_id, epoch);
CREATE INDEX idx_agent_key_grants_chat ON agent_key_grants (resource_type, resource_id);

-- The first identity signing key the gateway accepted for an owner, signed by the gateway's own
-- Ed25519 key: later writes to users.identity_signing_key do not change what grants verify against.
CREATE TABLE gateway_identity_pins (
    user_id UUID PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    ed25519_public BYTEA NOT NULL,
    gateway_public BYTEA NOT NULL,
    pin_signature BYTEA NOT NULL,
    pinned_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

ALTER TABLE decryption_audit_log
ADD COLUMN tool_name VARCHAR(64),
ADD COLUMN request_id VARCHAR(128),
ADD COLUMN outcome VARCHAR(20) CHECK (outcome IN ('allowed', 'denied', 'error')),
ADD COLUMN reason VARCHAR(64),
ADD COLUMN item_count INTEGER NOT NULL DEFAULT 0;
CREATE INDEX idx_audit_user_cursor ON decryption_audit_log (user_id, decrypted_at DESC, id DESC);
