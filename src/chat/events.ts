import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { closeRedis } from '../redis.ts';
import type { ChatEvent } from './types.ts';

export type { ChatEvent, MessageView } from './types.ts';

/**
 * Fan-out between API nodes over Redis pub/sub. Events carry ciphertext and ids, never plaintext;
 * pub/sub keeps nothing, and a node that misses an event is caught up from PostgreSQL by seq.
 */
export class ChatEvents {
  private readonly channel: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly logger: Logger,
  ) {
    this.channel = `${prefix}:chat-events`;
  }

  async publish(event: ChatEvent): Promise<void> {
    try {
      await this.redis.publish(this.channel, JSON.stringify(event));
    } catch (err) {
      // The write is committed; connected clients will catch up from their cursor.
      this.logger.warn(
        { err: { message: (err as Error).message }, event: event.type },
        'could not publish chat event',
      );
    }
  }

  /** Subscribes on a dedicated connection; returns the unsubscribe function. */
  async subscribe(onEvent: (event: ChatEvent) => void): Promise<() => Promise<void>> {
    const sub = this.redis.duplicate();
    sub.on('error', () => undefined);
    sub.on('message', (channel: string, payload: string) => {
      if (channel !== this.channel) return;
      try {
        onEvent(JSON.parse(payload) as ChatEvent);
      } catch (err) {
        this.logger.error({ err: { message: (err as Error).message } }, 'bad chat event');
      }
    });
    await sub.subscribe(this.channel);
    return async () => {
      await closeRedis(sub);
    };
  }
}
