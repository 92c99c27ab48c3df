import { randomBytes } from 'node:crypto';

export const email = () => `h${randomBytes(5).toString('hex')}@example.com`;
export const b64 = (n: number, fill = 1) => Buffer.alloc(n, fill).toString('base64');
const DEFAULT_KDF = { m: 65536, t: 3, p: 1 };
/** A KDF params body with a fresh salt; the server never runs Argon2, so any cost is free here. */
export const kdfJson = (cost: { m: number; t: number; p: number } = DEFAULT_KDF) => ({
  alg: 'argon2id',
  salt: Buffer.from(randomBytes(16)).toString('base64'),
  ...cost,
});
