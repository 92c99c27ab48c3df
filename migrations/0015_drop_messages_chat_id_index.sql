-- idx_messages_chat_id (chat_id, id) serves no query: every read of a chat's messages goes by
-- (chat_id, seq), which idx_messages_chat_seq covers, and its chat_id prefix also serves the
-- ON DELETE CASCADE from chats. Each append paid for one more btree insert.
DROP INDEX IF EXISTS idx_messages_chat_id;
