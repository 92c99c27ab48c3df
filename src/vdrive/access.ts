import { NotFoundError } from '../errors.ts';

/**
 * Who may see a chat's shares. Until `src/access/` lands this is answered by the chat service's
 * membership query (see `membershipFromChats`); switching is one line in app.ts.
 */
export interface ChatMembership {
  isActiveMember(chatId: string, userId: string): Promise<boolean>;
}

export function membershipFromChats(chats: {
  requireMember(chatId: string, userId: string): Promise<unknown>;
}): ChatMembership {
  return {
    isActiveMember: (chatId, userId) =>
      chats.requireMember(chatId, userId).then(
        () => true,
        (err: unknown) => {
          if (err instanceof NotFoundError) return false;
          throw err;
        },
      ),
  };
}
