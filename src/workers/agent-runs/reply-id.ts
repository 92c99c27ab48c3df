import { createHash } from 'node:crypto';

/**
 * The reply's message id, a UUIDv7 that is the same on every attempt of one run: the time is the
 * trigger's (plus 1 ms, so the reply sorts after it) and the 74 "random" bits come from a hash of
 * the outbox id. A retried or duplicated job therefore posts under the same id, and the gateway's
 * idempotent `post_message` turns the second post into the first one.
 */
export function replyIdFor(outboxId: string, triggerCreatedAt: Date): string {
  const ms = triggerCreatedAt.getTime() + 1;
  const b = createHash('sha256')
    .update(`vutler/agent-reply/v1:${outboxId}`)
    .digest()
    .subarray(0, 16);
  const hi = Math.floor(ms / 2 ** 16);
  b[0] = (hi >>> 24) & 0xff;
  b[1] = (hi >>> 16) & 0xff;
  b[2] = (hi >>> 8) & 0xff;
  b[3] = hi & 0xff;
  b[4] = (ms >>> 8) & 0xff;
  b[5] = ms & 0xff;
  b[6] = 0x70 | (b[6]! & 0x0f);
  b[8] = 0x80 | (b[8]! & 0x3f);
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
