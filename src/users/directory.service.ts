import type { Limit, RateLimits } from '../http/rate-limit.ts';
import type { DirectoryRepository, DirectoryRow } from './directory.repository.ts';

export interface Profile {
  id: string;
  email: string;
  displayName: string | null;
}

export const DIRECTORY_LIMITS = {
  /** Enough to start a few chats a minute; far too few to walk a list of addresses. */
  lookupUser: { points: 20, durationSeconds: 60 },
} satisfies Record<string, Limit>;

const toProfile = (r: DirectoryRow): Profile => ({
  id: r.id,
  email: r.email,
  displayName: r.display_name,
});

/**
 * Finding people to chat with. A lookup is by exact email only, for signed-in people, rate-limited
 * per person, and answers the same shape whether nobody has that address or its owner has not set
 * up encryption yet (neither can be chatted with), so it is not a cheap existence oracle.
 */
export class DirectoryService {
  constructor(
    private readonly repo: DirectoryRepository,
    private readonly limits: RateLimits,
    private readonly limit: Limit = DIRECTORY_LIMITS.lookupUser,
  ) {}

  async lookup(viewerId: string, email: string): Promise<Profile[]> {
    await this.limits.consume('lookup-user', this.limit, [viewerId]);
    const row = await this.repo.findByEmail(email);
    return row ? [toProfile(row)] : [];
  }

  /** Names for user ids the viewer meets in chats; others are left out, not reported. */
  async profiles(viewerId: string, ids: string[]): Promise<Profile[]> {
    if (ids.length === 0) return [];
    return (await this.repo.profilesVisibleTo(viewerId, [...new Set(ids)])).map(toProfile);
  }
}
