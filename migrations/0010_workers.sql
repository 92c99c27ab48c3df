-- Workers (issue 12): the outbox relay's wake-up call and the rows' completion.
-- `dispatched_at` says the row reached BullMQ at least once; `done_at` says its effect committed
-- (or that it failed for good, `outcome` saying which). Only `done_at IS NULL` rows are relayed
-- or reconciled, so a Redis that lost its jobs is refilled from here.
ALTER TABLE outbox
ADD COLUMN done_at TIMESTAMPTZ,
ADD COLUMN outcome VARCHAR(20) CHECK (outcome IN ('done', 'failed')),
-- A short reason code (never content): 'no-grant', 'no-api-key', 'model-refused', ...
ADD COLUMN failure VARCHAR(50);

DROP INDEX IF EXISTS idx_outbox_pending;
CREATE INDEX idx_outbox_undispatched ON outbox (created_at) WHERE dispatched_at IS NULL AND done_at IS NULL;
CREATE INDEX idx_outbox_open ON outbox (created_at) WHERE done_at IS NULL;

-- Every writer of the outbox wakes the relay at commit (NOTIFY is delivered on commit only);
-- the payload is the row id, nothing else.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('vutler_outbox', NEW.id::text);
  RETURN NULL;
END;
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION outbox_notify();
