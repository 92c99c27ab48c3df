import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { TokenBucket } from '../config.ts';
import { ToolRefusal } from './refusal.ts';

/**
 * Two token buckets checked and spent together in one script: a call spends from both only if
 * both have a token, so a refused call costs nothing. Time comes from Redis, so every API node
 * agrees. Bucket state is {tokens, last refill ms}; keys expire once a bucket would be full again.
 */
const SCRIPT = `
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local wait = 0
local state = {}
for i = 1, 2 do
  local cap = tonumber(ARGV[i * 2 - 1])
  local rate = tonumber(ARGV[i * 2]) / 1000
  local b = redis.call('HMGET', KEYS[i], 't', 'ts')
  local tokens = tonumber(b[1]) or cap
  local ts = tonumber(b[2]) or ms
  tokens = math.min(cap, tokens + math.max(0, ms - ts) * rate)
  if tokens < 1 then wait = math.max(wait, math.ceil((1 - tokens) / rate)) end
  state[i] = {tokens, cap, rate}
end
for i = 1, 2 do
  local tokens = state[i][1]
  if wait == 0 then tokens = tokens - 1 end
  redis.call('HSET', KEYS[i], 't', tostring(tokens), 'ts', ms)
  redis.call('PEXPIRE', KEYS[i], math.ceil(state[i][2] / state[i][3]) + 1000)
end
return wait
`;

const hash = (s: string) => createHash('sha256').update(s).digest('base64url').slice(0, 22);

/** Redis keeps scripts by SHA-1: a call sends the digest, and the script only when Redis lacks it. */
const SCRIPT_SHA = createHash('sha1').update(SCRIPT).digest('hex');

/** Per (agent token, tool) and per owner; over either → a refusal with a retry hint, before any work. */
export class GatewayRateLimits {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly perTool: TokenBucket,
    private readonly perUser: TokenBucket,
  ) {}

  async take(tokenId: string, tool: string, userId: string): Promise<void> {
    const args = [
      2,
      `${this.prefix}:gw:tb:t:${hash(`${tokenId}\0${tool}`)}`,
      `${this.prefix}:gw:tb:u:${hash(userId)}`,
      this.perTool.capacity,
      this.perTool.refillPerSecond,
      this.perUser.capacity,
      this.perUser.refillPerSecond,
    ] as const;
    let waitMs: number;
    try {
      waitMs = Number(
        await this.redis.evalsha(SCRIPT_SHA, ...args).catch((err: unknown) => {
          // A restarted (or flushed) Redis has forgotten the script: send it once.
          if (err instanceof Error && err.message.startsWith('NOSCRIPT'))
            return this.redis.eval(SCRIPT, ...args);
          throw err;
        }),
      );
    } catch {
      // No Redis, no limits: refuse rather than run unlimited.
      throw new ToolRefusal(
        'Rate limiting is unavailable.',
        'Retry in a few seconds.',
        'rate-limit-unavailable',
        5,
      );
    }
    if (waitMs > 0) {
      const seconds = Math.max(1, Math.ceil(waitMs / 1000));
      throw new ToolRefusal(
        'Rate limit reached.',
        `Retry after ${seconds} s.`,
        'rate-limited',
        seconds,
      );
    }
  }
}
