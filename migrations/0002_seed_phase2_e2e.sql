-- "Modifications du Schéma Base de Données" of the Phase-2 seed document, translated to valid
-- PostgreSQL: the seed's inline INDEX clauses become CREATE INDEX statements. Names, types and
-- defaults are the seed's. Meanings are in DESIGN §7.

-- Messages table: encryption
ALTER TABLE messages
ADD COLUMN encrypted_content BYTEA,
ADD COLUMN encryption_version INTEGER DEFAULT 1,
ADD COLUMN encryption_key_id UUID,
ADD COLUMN decryption_permissions JSONB DEFAULT '{}',
ADD COLUMN created_at_encrypted BOOLEAN DEFAULT FALSE;

-- Users table: key management
ALTER TABLE users
ADD COLUMN master_key_encrypted BYTEA,
ADD COLUMN key_derivation_params JSONB,
ADD COLUMN backup_phrase_hash VARCHAR(64),
ADD COLUMN encryption_enabled BOOLEAN DEFAULT FALSE;

-- Files table: encrypted metadata
ALTER TABLE files
ADD COLUMN encrypted_metadata JSONB,
ADD COLUMN file_key_encrypted BYTEA,
ADD COLUMN encryption_algorithm VARCHAR(50) DEFAULT 'AES-256-GCM',
ADD COLUMN synology_path_encrypted VARCHAR(500);

-- Encryption keys
CREATE TABLE encryption_keys (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users(id),
    key_type VARCHAR(50) NOT NULL, -- 'master', 'identity', 'session', 'file'
    encrypted_key BYTEA NOT NULL,
    key_params JSONB NOT NULL,
    created_at TIMESTAMP DEFAULT NOW(),
    expires_at TIMESTAMP,
    revoked_at TIMESTAMP
);
CREATE INDEX idx_encryption_keys_user ON encryption_keys (user_id);
CREATE INDEX idx_encryption_keys_type ON encryption_keys (key_type);

-- Agent access permissions
CREATE TABLE agent_permissions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users(id),
    agent_name VARCHAR(100) NOT NULL,
    resource_type VARCHAR(50) NOT NULL, -- 'chat', 'files', 'vdrive', 'memory', 'github'
    access_level VARCHAR(50) NOT NULL, -- 'denied', 'metadata', 'decrypt_ephemeral'
    conditions JSONB DEFAULT '{}',
    created_at TIMESTAMP DEFAULT NOW(),
    updated_at TIMESTAMP DEFAULT NOW(),
    UNIQUE(user_id, agent_name, resource_type)
);

-- Decryption access log
CREATE TABLE decryption_audit_log (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users(id),
    agent_name VARCHAR(100) NOT NULL,
    resource_id UUID NOT NULL,
    resource_type VARCHAR(50) NOT NULL,
    decryption_success BOOLEAN NOT NULL,
    ip_address INET,
    user_agent TEXT,
    decrypted_at TIMESTAMP DEFAULT NOW()
);
CREATE INDEX idx_audit_user_date ON decryption_audit_log (user_id, decrypted_at);
CREATE INDEX idx_audit_agent ON decryption_audit_log (agent_name);

-- VDrive-chat integration
CREATE TABLE vdrive_chat_shares (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    file_id UUID NOT NULL,
    chat_id UUID NOT NULL REFERENCES chats(id),
    shared_by UUID NOT NULL REFERENCES users(id),
    message_id UUID REFERENCES messages(id),
    access_permissions JSONB DEFAULT '{"read": true, "download": false}',
    expires_at TIMESTAMP,
    created_at TIMESTAMP DEFAULT NOW()
);
CREATE INDEX idx_vdrive_shares_chat ON vdrive_chat_shares (chat_id);
CREATE INDEX idx_vdrive_shares_file ON vdrive_chat_shares (file_id);

-- GitHub connector
CREATE TABLE github_integrations (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users(id),
    github_user_id INTEGER NOT NULL,
    access_token_encrypted BYTEA NOT NULL,
    refresh_token_encrypted BYTEA,
    scopes TEXT[] DEFAULT ARRAY['repo', 'workflow'],
    webhook_secret_encrypted BYTEA,
    connected_repos JSONB DEFAULT '[]',
    auto_deploy_enabled BOOLEAN DEFAULT TRUE,
    created_at TIMESTAMP DEFAULT NOW(),
    updated_at TIMESTAMP DEFAULT NOW(),
    UNIQUE(user_id, github_user_id)
);
