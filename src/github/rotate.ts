import { type Pool, withTransaction } from '../db/pool.ts';
import { GithubRepository } from './github.repository.ts';
import type { AtRestSealer } from './sealing.ts';
import { aadFor, type SealedColumn } from './secrets.ts';

/**
 * Re-seals every sealed GitHub column with the keyring's current key, in one transaction (rows
 * locked), so an old key can be retired afterwards. Returns how many envelopes were re-sealed.
 */
export async function resealGithubSecrets(pool: Pool, sealer: AtRestSealer): Promise<number> {
  return withTransaction(pool, async (client) => {
    const repo = new GithubRepository(client);
    let count = 0;
    for (const row of await repo.allIntegrationsLocked()) {
      const again = (column: SealedColumn): Uint8Array | null => {
        const sealed = row[column];
        if (!sealed) return null;
        const aad = aadFor(column, row.user_id, row.github_user_id);
        if (sealer.keyIdOf(sealed) === sealer.currentKeyId) return sealed;
        count++;
        return sealer.seal(sealer.open(sealed, aad), aad);
      };
      const access = again('access_token_encrypted') as Uint8Array;
      await repo.reseal(
        row.id,
        access,
        again('refresh_token_encrypted'),
        again('webhook_secret_encrypted'),
      );
    }
    return count;
  });
}
