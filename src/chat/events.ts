import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

/** What a member's client sees of a message: ciphertext and public metadata only. */
export interface MessageView {
  id: string;
  chatId: string;
  seq: number;
  senderId: string | null;
  senderAgent: string | null;
  epoch: number;
  ciphertext: string | null;
  signature: string | null;
  mentions: string[];
  decryptionPermissions: Record<string, unknown>;
  createdAt: string;
  deletedAt: string | null;
}

export type ChatEvent =
  | { type: 'message.created'; chatId: string; message: MessageView }
  | { type: 'message.deleted'; chatId: string; messageId: string; seq: number }
  | {
      type: 'member.changed';
      chatId: string;
      userId: string;
      change: 'added' | 'removed';
      by: string;
      epoch: number;
      /** The chat's last seq when the change committed: a new member's live cursor. */
      lastSeq: number;
    }
  | { type: 'key.rotated'; chatId: string; epoch: number; by: string }
  | { type: 'typing'; chatId: string; userId: string };

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
      await sub.quit().catch(() => sub.disconnect());
    };
  }
}
