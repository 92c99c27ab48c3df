import { expect } from 'vitest';
import {
  type ChatKey,
  type CryptoErrorCode,
  createIdentity,
  createMasterKey,
  derivePassphraseKeys,
  deriveRecoverySecrets,
  generateRecoveryPhrase,
  isCryptoError,
  type NewIdentity,
  newKdfParams,
} from '../../../src/crypto/index.ts';

/** Cheap Argon2 cost for tests; production defaults are exercised once in passphrase.test.ts. */
export const CHEAP_KDF = { memoryKiB: 1024, iterations: 1, parallelism: 1 } as const;

/**
 * Resolves when `action` fails with a `CryptoError` (optionally of `code`), and fails the test
 * if it succeeds or fails with anything else — "garbage" and raw DOMExceptions both count.
 */
export async function expectCryptoError(
  action: Promise<unknown> | (() => unknown),
  code?: CryptoErrorCode | CryptoErrorCode[],
): Promise<void> {
  let outcome: unknown;
  try {
    const r = typeof action === 'function' ? action() : action;
    outcome = { value: await r };
  } catch (err) {
    outcome = err;
  }
  if (!isCryptoError(outcome)) {
    throw new Error(`expected a CryptoError${code ? ` (${code})` : ''}, got ${describe(outcome)}`);
  }
  if (code !== undefined) {
    const codes = Array.isArray(code) ? code : [code];
    expect(codes, outcome.message).toContain(outcome.code);
  }
}

function describe(x: unknown): string {
  if (x instanceof Error) return `${x.name}: ${x.message}`;
  return `success ${JSON.stringify(x, (_k, v) => (v instanceof Uint8Array ? `<${v.length} bytes>` : v))}`;
}

/** Returns `true` when `action` throws a CryptoError; rethrows anything else. For properties. */
export async function failsWithCryptoError(action: () => Promise<unknown>): Promise<boolean> {
  try {
    await action();
    return false;
  } catch (err) {
    if (isCryptoError(err)) return true;
    throw err;
  }
}

export function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const copy = bytes.slice();
  copy[bit >>> 3]! ^= 1 << (bit & 7);
  return copy;
}

export interface TestUser extends NewIdentity {
  id: string;
  masterKey: CryptoKey;
}

export async function makeUser(id: string): Promise<TestUser> {
  const { kek } = await derivePassphraseKeys(`passphrase of ${id}`, newKdfParams(CHEAP_KDF), {
    allowWeakParams: true,
  });
  const { recoveryKey } = await deriveRecoverySecrets(generateRecoveryPhrase());
  const { masterKey } = await createMasterKey({ kek, recoveryKey });
  return { id, masterKey, ...(await createIdentity(masterKey, id)) };
}

export function memberOf(u: TestUser) {
  return { id: u.id, x25519: u.keys.x25519 };
}

export function wrapperOf(u: TestUser) {
  return { id: u.id, ed25519PublicKey: u.keys.ed25519.publicKey };
}

export function signerOf(u: TestUser) {
  return { id: u.id, signingKey: u.keys.ed25519.privateKey };
}

export type { ChatKey };
