import { NotFoundError } from '../errors.ts';
import type { AccessRepository } from './access.repository.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The one answer for "does not exist" and "exists but not yours": callers must not learn which. */
export class NoAccessError extends NotFoundError {
  constructor() {
    super('No such resource, or no access to it.');
  }
}

/**
 * The one permission check for people (DESIGN §5, CONVENTIONS 2): batched, default deny. Give it
 * any ids — unknown, malformed, duplicated — and it answers with the subset the person may use,
 * in the order asked, never an error that tells "absent" from "not yours".
 */
export class AccessService {
  constructor(private readonly repo: AccessRepository) {}

  /** The chats among `chatIds` that `userId` is a current member of. */
  async allowedChats(userId: string, chatIds: readonly string[]): Promise<string[]> {
    const wanted = [
      ...new Set(chatIds.filter((id) => UUID.test(id)).map((id) => id.toLowerCase())),
    ];
    if (wanted.length === 0 || !UUID.test(userId)) return [];
    const allowed = new Set(await this.repo.memberChats(userId, wanted));
    return wanted.filter((id) => allowed.has(id));
  }

  async canUseChat(userId: string, chatId: string): Promise<boolean> {
    return (await this.allowedChats(userId, [chatId])).length === 1;
  }

  /** Throws `NoAccessError` (404) unless `userId` is a current member of `chatId`. */
  async requireChatMember(userId: string, chatId: string): Promise<void> {
    if (!(await this.canUseChat(userId, chatId))) throw new NoAccessError();
  }
}
