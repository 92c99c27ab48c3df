import { createHmac, randomBytes } from 'node:crypto';
import type { IntegrationRow } from './github.repository.ts';
import type { AtRestSealer } from './sealing.ts';

export type SealedColumn =
  | 'access_token_encrypted'
  | 'refresh_token_encrypted'
  | 'webhook_secret_encrypted';

/** Binds an envelope to its column and row, so a sealed value moved elsewhere fails to open. */
export function aadFor(
  column: SealedColumn,
  userId: string,
  githubUserId: number | string,
): string {
  return `github_integrations.${column}:${userId}:${githubUserId}`;
}

/** The integration's secrets, opened for one use; never logged, never returned by the API. */
export class IntegrationSecrets {
  constructor(private readonly sealer: AtRestSealer) {}

  seal(column: SealedColumn, userId: string, githubUserId: number, value: string): Uint8Array {
    return this.sealer.seal(Buffer.from(value, 'utf8'), aadFor(column, userId, githubUserId));
  }

  open(row: IntegrationRow, column: SealedColumn): string | undefined {
    const sealed = row[column];
    if (!sealed) return undefined;
    return Buffer.from(
      this.sealer.open(sealed, aadFor(column, row.user_id, row.github_user_id)),
    ).toString('utf8');
  }

  token(row: IntegrationRow): string {
    return this.open(row, 'access_token_encrypted') as string;
  }

  newWebhookSecret(): string {
    return randomBytes(32).toString('hex');
  }

  /**
   * The key a deploy hook's body is signed with: derived from the webhook secret per repository,
   * so whoever runs the hook can check our signature but cannot forge GitHub's webhooks.
   */
  hookKey(row: IntegrationRow, repoId: string): string {
    const secret = this.open(row, 'webhook_secret_encrypted') ?? '';
    return createHmac('sha256', secret).update(`vutler/v1/deploy-hook:${repoId}`).digest('hex');
  }
}
