-- Vchat (issue 5): chat epochs, chat-key wraps, message sequencing and signatures, outbox.

-- One row per chat key epoch. messages.encryption_key_id points here (DESIGN §7).
CREATE TABLE chat_epochs (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    chat_id UUID NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL CHECK (epoch >= 0),
    created_by UUID NOT NULL REFERENCES users(id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (chat_id, epoch)
);

-- Chat-key wraps are encryption_keys rows of type 'session' (a Megolm-style session key wrapped
-- to one member), with the chat, epoch and wrapping member as columns so they can be queried.
ALTER TABLE encryption_keys
ADD COLUMN chat_id UUID REFERENCES chats(id) ON DELETE CASCADE,
ADD COLUMN epoch INTEGER,
ADD COLUMN wrapped_by UUID REFERENCES users(id);
CREATE UNIQUE INDEX idx_encryption_keys_chat_wrap
    ON encryption_keys (chat_id, epoch, user_id) WHERE key_type = 'session';

-- Per-chat sequence: messages get seq = ++last_seq under the chat row's lock, so within a chat
-- commit order equals seq order and "everything after seq N" is a gap-free resume cursor.
ALTER TABLE chats ADD COLUMN last_seq BIGINT NOT NULL DEFAULT 0;

ALTER TABLE messages
ADD COLUMN seq BIGINT,
ADD COLUMN epoch INTEGER,
ADD COLUMN signature BYTEA,
-- Agent names mentioned (@claude): the one plaintext field, needed to trigger agent runs.
ADD COLUMN mentions TEXT[] NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX idx_messages_chat_seq ON messages (chat_id, seq);

-- Work to do after a commit, relayed to BullMQ by the workers (jobId = outbox id). Ids only.
CREATE TABLE outbox (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    queue VARCHAR(50) NOT NULL,
    job_name VARCHAR(50) NOT NULL,
    payload JSONB NOT NULL,
    dedupe_key TEXT UNIQUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    dispatched_at TIMESTAMPTZ,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX idx_outbox_pending ON outbox (created_at) WHERE dispatched_at IS NULL;
