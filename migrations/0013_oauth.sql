-- MCP authorization (issue 16): Vutler as its own OAuth 2.1 authorization server for /mcp.
-- Clients registered by Dynamic Client Registration live here; Client ID Metadata Document
-- clients (an https URL as client_id) are fetched per authorization and never stored.
CREATE TABLE oauth_clients (
    client_id VARCHAR(64) PRIMARY KEY,
    client_name VARCHAR(200) NOT NULL,
    redirect_uris TEXT[] NOT NULL CHECK (cardinality(redirect_uris) BETWEEN 1 AND 10),
    client_uri VARCHAR(2000),
    software_id VARCHAR(200),
    software_version VARCHAR(100),
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

-- One person's consent for one client, acting as one agent name, for one resource. Revoking it
-- (disconnect, refresh-token reuse, code replay) kills every code and token issued under it.
CREATE TABLE oauth_grants (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    agent_name VARCHAR(100) NOT NULL CHECK (agent_name ~ '^[a-z0-9][a-z0-9_.-]{0,99}$'),
    client_id VARCHAR(2000) NOT NULL,
    client_name VARCHAR(200) NOT NULL,
    redirect_uri VARCHAR(2000) NOT NULL,
    resource VARCHAR(2000) NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    last_used_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ,
    revoked_reason VARCHAR(40)
);
CREATE INDEX idx_oauth_grants_user ON oauth_grants (user_id, created_at DESC);

-- Codes, access tokens and refresh tokens: only SHA-256 hashes of 256-bit random values.
CREATE TABLE oauth_codes (
    code_hash BYTEA PRIMARY KEY,
    grant_id UUID NOT NULL REFERENCES oauth_grants(id) ON DELETE CASCADE,
    code_challenge VARCHAR(128) NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ
);
CREATE INDEX idx_oauth_codes_grant ON oauth_codes (grant_id);

CREATE TABLE oauth_tokens (
    token_hash BYTEA PRIMARY KEY,
    grant_id UUID NOT NULL REFERENCES oauth_grants(id) ON DELETE CASCADE,
    kind VARCHAR(10) NOT NULL CHECK (kind IN ('access', 'refresh')),
    expires_at TIMESTAMPTZ NOT NULL,
    -- A refresh token is spent once; presenting a spent one is reuse and revokes the grant.
    used_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_oauth_tokens_grant ON oauth_tokens (grant_id);
