import type { Config } from '../config.ts';
import type { Pool } from '../db/pool.ts';
import { MetadataFetcher } from './clients.ts';
import { OAuthRepository } from './oauth.repository.ts';
import { OAuthService } from './oauth.service.ts';

export { OAuthError } from './errors.ts';
export { oauthRoutes, originOf, resourceOf } from './oauth.routes.ts';
export { isOAuthAccessToken, OAuthService } from './oauth.service.ts';

export function createOAuth(pool: Pool, config: Config['oauth']): OAuthService {
  return new OAuthService(
    new OAuthRepository(pool),
    new MetadataFetcher({ allowPrivate: config.cimdAllowPrivate, caFile: config.cimdCaFile }),
    { accessTtlSeconds: config.accessTtlSeconds, refreshTtlDays: config.refreshTtlDays },
  );
}
