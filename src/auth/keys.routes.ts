import { Hono } from 'hono';
import { z } from 'zod';
import { base64Encode } from '../crypto/bytes.ts';
import { IDENTITY_ENVELOPE_BYTES } from '../crypto/identity.ts';
import { MASTER_KEY_ENVELOPE_BYTES } from '../crypto/masterkey.ts';
import { NotFoundError } from '../errors.ts';
import { base64Bytes, email, uuid } from '../http/schemas.ts';
import { jsonBody } from '../http/validate.ts';
import { kdfJson, type RouteOptions, requestMeta, setSessionCookie } from './auth.routes.ts';
import type { AuthService } from './auth.service.ts';
import type { KeysService } from './keys.service.ts';
import { type AuthEnv, requireSession } from './middleware.ts';

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
    recoveryVerifier: z
      .string()
      .regex(/^[0-9a-f]{64}$/, { error: 'must be 64 lower-case hex characters' }),
    identity: z
      .object({
        public: identityPublicJson,
        wrappedPrivateKeys: base64Bytes({ exact: IDENTITY_ENVELOPE_BYTES }),
      })
      .strict(),
  })
  .strict();

const recoverBody = z.object({ email, proof: base64Bytes({ exact: 32 }) }).strict();

const passphraseBody = z
  .object({
    kdf: kdfJson,
    authKey: base64Bytes({ exact: 32 }),
    masterKeyEncrypted: base64Bytes({ exact: MASTER_KEY_ENVELOPE_BYTES }),
    currentAuthKey: base64Bytes({ exact: 32 }).optional(),
  })
  .strict();

/** `/api/keys/*` and `/api/users/:id/keys`. */
export function keysRoutes(auth: AuthService, keys: KeysService, opts: RouteOptions) {
  const app = new Hono<AuthEnv>();

  app.put('/keys/setup', requireSession(auth), async (c) => {
    const body = await jsonBody(c, setupBody);
    await keys.setup(c.get('auth').userId, {
      masterKeyEncrypted: body.masterKeyEncrypted,
      recoveryWrappedMasterKey: body.recoveryWrappedMasterKey,
      recoveryVerifier: body.recoveryVerifier,
      identityPublic: body.identity.public,
      identityWrapped: body.identity.wrappedPrivateKeys,
    });
    return c.body(null, 204);
  });

  app.get('/keys/mine', requireSession(auth), async (c) => {
    const k = await keys.mine(c.get('auth').userId);
    c.header('cache-control', 'no-store');
    return c.json({
      kdf: k.kdf,
      masterKeyEncrypted: base64Encode(k.masterKeyEncrypted),
      identity: { public: k.identityPublic, wrappedPrivateKeys: base64Encode(k.identityWrapped) },
    });
  });

  app.get('/users/:id/keys', requireSession(auth), async (c) => {
    const id = uuid.safeParse(c.req.param('id'));
    if (!id.success) throw new NotFoundError();
    return c.json(await keys.publicKeys(id.data));
  });

  app.post('/keys/recover', async (c) => {
    const body = await jsonBody(c, recoverBody);
    const r = await keys.recover(body.email, body.proof, requestMeta(c, opts.trustProxy));
    c.header('cache-control', 'no-store');
    return c.json({
      userId: r.userId,
      recoveryWrappedMasterKey: base64Encode(r.recoveryWrappedMasterKey),
      session: r.session,
    });
  });

  app.put('/keys/passphrase', requireSession(auth, ['login', 'recovery']), async (c) => {
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
