-- Log anchors (docs/CRYPTO.md "Trust anchors"): a member's signed statement that its client
-- verified the first `length` entries of a chat's membership log, ending in `head`. A new
-- device of that member checks signatures only after it. One row per member and chat: the
-- longest anchor kept. Nothing secret: a count, a hash and a signature over them.
CREATE TABLE chat_log_anchors (
    chat_id UUID NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    length INTEGER NOT NULL CHECK (length >= 1),
    head BYTEA NOT NULL,
    signature BYTEA NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (chat_id, user_id)
);
