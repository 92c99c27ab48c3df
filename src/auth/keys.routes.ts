import { Hono } from 'hono';
import { z } from 'zod';
import { base64Encode } from '../crypto/bytes.ts';
import { IDENTITY_ENVELOPE_BYTES } from '../crypto/identity.ts';
import { MASTER_KEY_ENVELOPE_BYTES } from '../crypto/masterkey.ts';
import { RECOVERY_NONCE_BYTES } from '../crypto/recovery.ts';
import { NotFoundError } from '../errors.ts';
import { base64Bytes, email, uuid } from '../http/schemas.ts';
import { jsonBody } from '../http/validate.ts';
import {
  kdfJson,
  noStore,
  type RouteOptions,
  requestMeta,
  setSessionCookie,
} from './auth.routes.ts';
import type { KeysService } from './keys.service.ts';
import { type AuthEnv, requireSession } from './middleware.ts';
import type { SessionService } from './session.service.ts';
import type { RecoverAnswer, RecoveryChallengeAnswer } from './types.ts';

const identityPublicJson = z
  .object({
    userId: uuid,
    x25519: z.string().max(64),
    ed25519: z.string().max(64),
    signature: z.string().max(128),
  })
  .strict();

const setupBody = z
  .object({
    masterKeyEncrypted: base64Bytes({ exact: MASTER_KEY_ENVELOPE_BYTES }),
    recoveryWrappedMasterKey: base64Bytes({ exact: MASTER_KEY_ENVELOPE_BYTES }),
    recoveryPublicKey: base64Bytes({ exact: 32 }),
    identity: z
      .object({
        public: identityPublicJson,
        wrappedPrivateKeys: base64Bytes({ exact: IDENTITY_ENVELOPE_BYTES }),
      })
      .strict(),
  })
  .strict();

const challengeBody = z.object({ email }).strict();

const recoverBody = z
  .object({
    email,
    nonce: base64Bytes({ exact: RECOVERY_NONCE_BYTES }),
    signature: base64Bytes({ exact: 64 }),
  })
  .strict();

const passphraseBody = z
  .object({
    kdf: kdfJson,
    authKey: base64Bytes({ exact: 32 }),
    masterKeyEncrypted: base64Bytes({ exact: MASTER_KEY_ENVELOPE_BYTES }),
    currentAuthKey: base64Bytes({ exact: 32 }).optional(),
  })
  .strict();

/** `/api/keys/*` and `/api/users/:id/keys`. */
export function keysRoutes(sessions: SessionService, keys: KeysService, opts: RouteOptions) {
  const app = new Hono<AuthEnv>();
  app.use('/keys/*', noStore);

  app.put('/keys/setup', requireSession(sessions), async (c) => {
    const body = await jsonBody(c, setupBody);
    await keys.setup(c.get('auth').userId, {
      masterKeyEncrypted: body.masterKeyEncrypted,
      recoveryWrappedMasterKey: body.recoveryWrappedMasterKey,
      recoveryPublicKey: body.recoveryPublicKey,
      identityPublic: body.identity.public,
      identityWrapped: body.identity.wrappedPrivateKeys,
    });
    return c.body(null, 204);
  });

  app.get('/keys/mine', requireSession(sessions), async (c) => {
    const k = await keys.mine(c.get('auth').userId);
    return c.json({
      kdf: k.kdf,
      masterKeyEncrypted: base64Encode(k.masterKeyEncrypted),
      identity: { public: k.identityPublic, wrappedPrivateKeys: base64Encode(k.identityWrapped) },
    });
  });

  app.get('/users/:id/keys', requireSession(sessions), async (c) => {
    const id = uuid.safeParse(c.req.param('id'));
    if (!id.success) throw new NotFoundError();
    return c.json(await keys.publicKeys(id.data));
  });

  app.post('/keys/recover/challenge', async (c) => {
    const body = await jsonBody(c, challengeBody);
    const ch = await keys.recoveryChallenge(body.email, requestMeta(c, opts.trustProxy));
    const answer: RecoveryChallengeAnswer = {
      nonce: base64Encode(ch.nonce),
      expiresAt: ch.expiresAt.toISOString(),
    };
    return c.json(answer);
  });

  app.post('/keys/recover', async (c) => {
    const body = await jsonBody(c, recoverBody);
    const r = await keys.recover(
      body.email,
      body.nonce,
      body.signature,
      requestMeta(c, opts.trustProxy),
    );
    const answer: RecoverAnswer = {
      userId: r.userId,
      recoveryWrappedMasterKey: base64Encode(r.recoveryWrappedMasterKey),
      session: r.session,
    };
    return c.json(answer);
  });

  app.put('/keys/passphrase', requireSession(sessions, ['login', 'recovery']), async (c) => {
    const body = await jsonBody(c, passphraseBody);
    const session = await keys.changePassphrase(
      c.get('auth'),
      body,
      requestMeta(c, opts.trustProxy),
    );
    setSessionCookie(c, session, opts.secureCookies);
    return c.json({ session });
  });

  return app;
}
