import { argon2id } from 'hash-wasm';
import { type Bytes, base64Decode, base64Encode, randomBytes, utf8Encode, wipe } from './bytes.ts';
import { CryptoError, mapErrors } from './errors.ts';
import { domain, Label } from './labels.ts';
import { hkdfAesKey, hkdfBytes, importHkdfKey } from './primitives.ts';

/** Argon2id cost, stored per user in `users.key_derivation_params` so it can be raised later. */
export interface KdfParams {
  algorithm: 'argon2id';
  /** 16 random bytes. */
  salt: Bytes;
  memoryKiB: number;
  iterations: number;
  parallelism: number;
}

/** JSON form for `users.key_derivation_params` and the pre-login params endpoint. */
export interface KdfParamsJson {
  alg: 'argon2id';
  salt: string;
  m: number;
  t: number;
  p: number;
}

export const KDF_SALT_BYTES = 16;
export const DEFAULT_KDF_COST = { memoryKiB: 64 * 1024, iterations: 3, parallelism: 1 } as const;

/**
 * The weakest cost a client accepts unless told otherwise: the default itself (DESIGN §4). Without
 * a floor, a malicious server could answer the params endpoint with a cheap cost and then
 * brute-force the passphrase offline from the authKey it receives; with any floor below the
 * default, it could still make each guess that many times cheaper.
 */
export const MIN_KDF_COST = {
  memoryKiB: DEFAULT_KDF_COST.memoryKiB,
  iterations: DEFAULT_KDF_COST.iterations,
} as const;

/**
 * The only costs an account may choose (outside tests): the default and two stronger rungs.
 * Unknown emails get a fake cost drawn from this same ladder (`fakeKdfParams`), so a stronger
 * cost does not mark an email as a real account. See docs/CRYPTO.md §4 "Cost ladder".
 */
export const KDF_COST_LADDER = [
  DEFAULT_KDF_COST,
  { memoryKiB: 128 * 1024, iterations: 3, parallelism: 1 },
  { memoryKiB: 256 * 1024, iterations: 3, parallelism: 1 },
] as const;

/**
 * How often each rung is picked for an unknown email, out of 256: most accounts keep the default,
 * so most fakes do too; the stronger rungs appear often enough to hide the accounts that use them.
 */
const FAKE_RUNG_WEIGHTS = [192, 32, 32] as const;

export function isOnKdfLadder(p: Omit<KdfParams, 'algorithm' | 'salt'>): boolean {
  return KDF_COST_LADDER.some(
    (r) =>
      r.memoryKiB === p.memoryKiB &&
      r.iterations === p.iterations &&
      r.parallelism === p.parallelism,
  );
}

// Absolute bounds: above these a hostile params answer would just exhaust the client.
const MAX_MEMORY_KIB = 2 * 1024 * 1024;
const MAX_ITERATIONS = 64;
const MAX_PARALLELISM = 16;

export interface PassphraseKeys {
  /** 32 bytes the client sends to log in; the server keeps only a slow hash of it. */
  authKey: Bytes;
  /** Non-extractable AES-256-GCM key that wraps the master key. */
  kek: CryptoKey;
}

export function newKdfParams(cost: Partial<Omit<KdfParams, 'algorithm' | 'salt'>> = {}): KdfParams {
  const params: KdfParams = {
    algorithm: 'argon2id',
    salt: randomBytes(KDF_SALT_BYTES),
    memoryKiB: cost.memoryKiB ?? DEFAULT_KDF_COST.memoryKiB,
    iterations: cost.iterations ?? DEFAULT_KDF_COST.iterations,
    parallelism: cost.parallelism ?? DEFAULT_KDF_COST.parallelism,
  };
  checkKdfParams(params, { allowWeak: true });
  return params;
}

export function checkKdfParams(p: KdfParams, opts: { allowWeak?: boolean } = {}): void {
  const int = (v: unknown) => typeof v === 'number' && Number.isInteger(v);
  if (p.algorithm !== 'argon2id') throw new CryptoError('bad_params', 'KDF must be argon2id');
  if (!(p.salt instanceof Uint8Array) || p.salt.length !== KDF_SALT_BYTES) {
    throw new CryptoError('bad_length', `KDF salt must be ${KDF_SALT_BYTES} bytes`);
  }
  if (!int(p.parallelism) || p.parallelism < 1 || p.parallelism > MAX_PARALLELISM) {
    throw new CryptoError('bad_params', `Argon2 parallelism must be 1..${MAX_PARALLELISM}`);
  }
  if (!int(p.iterations) || p.iterations < 1 || p.iterations > MAX_ITERATIONS) {
    throw new CryptoError('bad_params', `Argon2 iterations must be 1..${MAX_ITERATIONS}`);
  }
  if (!int(p.memoryKiB) || p.memoryKiB < 8 * p.parallelism || p.memoryKiB > MAX_MEMORY_KIB) {
    throw new CryptoError('bad_params', `Argon2 memory must be 8·p..${MAX_MEMORY_KIB} KiB`);
  }
  if (
    !opts.allowWeak &&
    (p.memoryKiB < MIN_KDF_COST.memoryKiB || p.iterations < MIN_KDF_COST.iterations)
  ) {
    throw new CryptoError(
      'bad_params',
      `Argon2 cost below the accepted minimum (m=${MIN_KDF_COST.memoryKiB} KiB, t=${MIN_KDF_COST.iterations})`,
    );
  }
}

export function kdfParamsToJson(p: KdfParams): KdfParamsJson {
  return {
    alg: 'argon2id',
    salt: base64Encode(p.salt),
    m: p.memoryKiB,
    t: p.iterations,
    p: p.parallelism,
  };
}

/** Parses the stored/served JSON; structure and ranges are checked, the cost floor is not. */
export function kdfParamsFromJson(json: unknown): KdfParams {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new CryptoError('bad_encoding', 'KDF params must be a JSON object');
  }
  const o = json as Record<string, unknown>;
  if (o.alg !== 'argon2id') throw new CryptoError('bad_params', 'KDF must be argon2id');
  if (typeof o.salt !== 'string') throw new CryptoError('bad_encoding', 'KDF salt must be base64');
  const params = {
    algorithm: 'argon2id',
    salt: base64Decode(o.salt, KDF_SALT_BYTES),
    memoryKiB: o.m,
    iterations: o.t,
    parallelism: o.p,
  } as KdfParams;
  checkKdfParams(params, { allowWeak: true });
  return params;
}

/**
 * S = Argon2id(passphrase, salt); authKey = HKDF(S, "vutler/v1/auth"); kek = HKDF(S,
 * "vutler/v1/mk-wrap"). The passphrase is NFC-normalised so the same words typed on macOS (NFD
 * input) and elsewhere give the same keys. Params below `MIN_KDF_COST` are refused unless
 * `allowWeakParams` (tests only).
 */
export async function derivePassphraseKeys(
  passphrase: string,
  params: KdfParams,
  opts: { allowWeakParams?: boolean } = {},
): Promise<PassphraseKeys> {
  if (typeof passphrase !== 'string' || passphrase.length === 0) {
    throw new CryptoError('bad_input', 'passphrase must be a non-empty string');
  }
  checkKdfParams(params, { allowWeak: opts.allowWeakParams === true });
  const password = utf8Encode(passphrase.normalize('NFC'));
  let stretched: Uint8Array | undefined;
  try {
    stretched = await mapErrors('bad_params', 'Argon2id failed', () =>
      argon2id({
        password,
        salt: params.salt,
        iterations: params.iterations,
        parallelism: params.parallelism,
        memorySize: params.memoryKiB,
        hashLength: 32,
        outputType: 'binary',
      }),
    );
    const base = await importHkdfKey(stretched);
    const empty = new Uint8Array(0);
    const authKey = await hkdfBytes(base, empty, domain(Label.auth), 32);
    const kek = await hkdfAesKey(base, empty, domain(Label.masterKeyWrap), [
      'encrypt',
      'decrypt',
      'unwrapKey',
    ]);
    return { authKey, kek };
  } finally {
    wipe(password, stretched);
  }
}

/**
 * For the pre-login params endpoint: an unknown email gets a salt and a cost rung that are stable
 * across requests (so probing twice reveals nothing) yet unpredictable without `serverSecret`.
 */
export async function fakeKdfParams(serverSecret: Uint8Array, email: string): Promise<KdfParams> {
  if (!(serverSecret instanceof Uint8Array) || serverSecret.length < 32) {
    throw new CryptoError('bad_length', 'server secret must be at least 32 bytes');
  }
  if (typeof email !== 'string') throw new CryptoError('bad_input', 'email must be a string');
  const normalized = utf8Encode(email.trim().toLowerCase());
  const empty = new Uint8Array(0);
  const salt = await hkdfBytes(
    serverSecret,
    empty,
    domain(Label.fakeSalt, normalized),
    KDF_SALT_BYTES,
  );
  const [pick] = await hkdfBytes(serverSecret, empty, domain(Label.fakeCost, normalized), 1);
  let rung = 0;
  for (let acc = FAKE_RUNG_WEIGHTS[0]; pick! >= acc; acc += FAKE_RUNG_WEIGHTS[rung]!) rung++;
  const cost = KDF_COST_LADDER[rung]!;
  const params: KdfParams = {
    algorithm: 'argon2id',
    salt,
    memoryKiB: cost.memoryKiB,
    iterations: cost.iterations,
    parallelism: cost.parallelism,
  };
  checkKdfParams(params);
  return params;
}
