/**
 * Who may see a chat's shares: current members, answered by the one permission check
 * (`src/access/`). Kept as a one-method interface so the share service depends on nothing else.
 */
export interface ChatMembership {
  isActiveMember(chatId: string, userId: string): Promise<boolean>;
}

export function membershipFromAccess(access: {
  canUseChat(userId: string, chatId: string): Promise<boolean>;
}): ChatMembership {
  return { isActiveMember: (chatId, userId) => access.canUseChat(userId, chatId) };
}
