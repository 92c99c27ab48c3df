import { CryptoError } from '../crypto/errors.ts';
import {
  checkKdfParams,
  isOnKdfLadder,
  type KdfParams,
  type KdfParamsJson,
  kdfParamsFromJson,
  kdfParamsToJson,
} from '../crypto/passphrase.ts';

/**
 * The KDF cost an account may register or change to: a rung of `KDF_COST_LADDER` (the default or
 * stronger). `allowWeak` (tests and development only; refused in production by config) accepts any
 * in-range cost, so tests can use cheap ones. Returns the canonical JSON to store.
 */
export function accountKdf(json: KdfParamsJson, opts: { allowWeak: boolean }): KdfParamsJson {
  const params = kdfParamsFromJson(json);
  checkKdfParams(params, { allowWeak: opts.allowWeak });
  if (!opts.allowWeak && !isOnKdfLadder(params)) {
    throw new CryptoError(
      'bad_params',
      'Argon2 cost must be one of the allowed rungs (m=65536/131072/262144 KiB, t=3, p=1)',
    );
  }
  return kdfParamsToJson(params);
}

/**
 * The one builder of the pre-login params answer, for real accounts and fakes alike, so both have
 * the same keys in the same order and the same length (only the values differ).
 */
export function paramsAnswer(params: KdfParams): { kdf: KdfParamsJson } {
  const j = kdfParamsToJson(params);
  return { kdf: { alg: j.alg, salt: j.salt, m: j.m, t: j.t, p: j.p } };
}
