-- Signed membership log per chat (docs/CRYPTO.md "Membership log"): every create / add /
-- remove / rotate is an entry signed by the member making it and chained by hash. The server
-- verifies each entry before storing it and keeps chat_members / chats.current_epoch in step,
-- but clients trust only the log they verify themselves.
CREATE TABLE chat_log (
    chat_id UUID NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    position INTEGER NOT NULL CHECK (position >= 0),
    epoch INTEGER NOT NULL CHECK (epoch >= 0),
    action VARCHAR(32) NOT NULL,
    actor_id UUID NOT NULL REFERENCES users(id),
    -- Text, not a user reference: later actions (agent grants) name agents.
    subject_id VARCHAR(200) NOT NULL,
    subject_fingerprint BYTEA NOT NULL,
    role VARCHAR(32) NOT NULL DEFAULT '',
    prev_hash BYTEA NOT NULL,
    key_commitment BYTEA,
    signature BYTEA NOT NULL,
    entry_hash BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (chat_id, position)
);

-- The epoch's key commitment, copied from its create/rotate entry, so message and wrap checks
-- need one indexed row rather than a log scan.
ALTER TABLE chat_epochs ADD COLUMN key_commitment BYTEA;

-- Per-sender chains (counter + previous message hash, signed) and signed deletions.
ALTER TABLE messages
ADD COLUMN chain_id BYTEA,
ADD COLUMN chain_counter BIGINT,
ADD COLUMN chain_prev BYTEA,
ADD COLUMN tombstone BYTEA;
