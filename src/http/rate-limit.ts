import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { RateLimitedError, ServiceUnavailableError } from '../errors.ts';

export interface Limit {
  points: number;
  durationSeconds: number;
}

/**
 * Named fixed-window limits in Redis, shared by every API node. Keys hold a hash of the subject
 * (an email or an IP), never the subject itself.
 */
export class RateLimits {
  private readonly limiters = new Map<string, RateLimiterRedis>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private limiter(name: string, limit: Limit): RateLimiterRedis {
    const key = `${name}:${limit.points}:${limit.durationSeconds}`;
    let l = this.limiters.get(key);
    if (!l) {
      l = new RateLimiterRedis({
        storeClient: this.redis,
        keyPrefix: `${this.prefix}:${name}`,
        points: limit.points,
        duration: limit.durationSeconds,
        // Redis down must not mean "no limits": fail closed with a 503.
        insuranceLimiter: undefined,
      });
      this.limiters.set(key, l);
    }
    return l;
  }

  /** Spends one point for each subject; throws 429 with the longest Retry-After if any is spent out. */
  async consume(name: string, limit: Limit, subjects: string[]): Promise<void> {
    const limiter = this.limiter(name, limit);
    let retryAfter = 0;
    await Promise.all(
      subjects.map(async (subject) => {
        const id = createHash('sha256').update(subject).digest('base64url').slice(0, 22);
        try {
          await limiter.consume(id);
        } catch (res) {
          if (res instanceof RateLimiterRes) {
            retryAfter = Math.max(retryAfter, res.msBeforeNext / 1000);
            return;
          }
          throw new ServiceUnavailableError('Rate limiting is unavailable; try again shortly.');
        }
      }),
    );
    if (retryAfter > 0) throw new RateLimitedError(retryAfter);
  }
}
