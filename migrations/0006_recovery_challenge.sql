-- Recovery by challenge-response (issue 8). The client derives an Ed25519 key pair from the
-- recovery phrase's entropy; the server keeps its public key and answers a recovery only to a
-- signature over a fresh single-use nonce (held in Redis, never here). backup_phrase_hash now
-- holds hex(SHA-256(recovery_public_key)). Nothing is deployed yet, so no account carries the
-- earlier static-proof verifier; any that did (development databases) must set up again.

ALTER TABLE users
ADD COLUMN recovery_public_key BYTEA CHECK (octet_length(recovery_public_key) = 32);
