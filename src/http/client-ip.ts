import { isIP } from 'node:net';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';

/**
 * The caller's address: X-Forwarded-For's first hop only when we run behind our own proxy and it
 * is an IP address; otherwise the socket's peer.
 */
export function clientIp(c: Context, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = c.req.header('x-forwarded-for')?.split(',')[0]?.trim();
    // Only an address: the value is stored (inet) and keys rate limits; anything else would be a
    // 500 from PostgreSQL, or a way to mint fresh rate-limit subjects at will.
    if (forwarded && isIP(forwarded) !== 0) return forwarded;
  }
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    // In-process requests (tests, app.request) have no socket.
    return 'unknown';
  }
}
