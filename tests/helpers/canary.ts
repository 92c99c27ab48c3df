import type { Redis } from 'ioredis';
import type pg from 'pg';

export interface Needle {
  label: string;
  value: Uint8Array | string;
}

/**
 * Observes (does not replace) the real WebCrypto while client flows run, keeping a copy of every
 * 32-byte random value (master keys, chat keys) and every exported private key, so a later scan
 * can prove none of them reached the server's stores. Salts (16 B) and IVs (12 B) are public and
 * are not recorded.
 */
export function captureClientSecrets(): { needles: Needle[]; restore: () => void } {
  const needles: Needle[] = [];
  const c = globalThis.crypto;
  const subtle = c.subtle;
  const originalRandom = c.getRandomValues;
  const originalExport = subtle.exportKey;
  c.getRandomValues = (<T extends ArrayBufferView | null>(array: T): T => {
    const out = originalRandom.call(c, array as never) as T;
    if (array && array.byteLength === 32) {
      needles.push({
        label: 'random-32',
        value: new Uint8Array(array.buffer.slice(array.byteOffset, array.byteOffset + 32)),
      });
    }
    return out;
  }) as typeof c.getRandomValues;
  subtle.exportKey = (async (format: KeyFormat, key: CryptoKey) => {
    const out = await originalExport.call(subtle, format as 'raw', key);
    if (format === 'pkcs8' && out instanceof ArrayBuffer) {
      // X25519/Ed25519 PKCS#8 ends with the 32-byte private scalar/seed.
      needles.push({
        label: `${key.algorithm.name}-private`,
        value: new Uint8Array(out.slice(-32)),
      });
    }
    return out;
  }) as typeof subtle.exportKey;
  return {
    needles,
    restore: () => {
      c.getRandomValues = originalRandom;
      subtle.exportKey = originalExport;
    },
  };
}

function forms(needle: Needle): string[] {
  if (typeof needle.value === 'string') {
    return [
      needle.value,
      Buffer.from(needle.value).toString('hex'),
      Buffer.from(needle.value).toString('base64'),
    ];
  }
  const b = Buffer.from(needle.value);
  return [b.toString('hex'), b.toString('base64').replace(/=+$/, ''), b.toString('base64url')];
}

/** Every row of every table in the public schema, as text (bytea appears as hex). */
export async function dumpDatabase(pool: pg.Pool): Promise<string> {
  const { rows } = await pool.query<{ tablename: string }>(
    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
  );
  const parts: string[] = [];
  for (const { tablename } of rows) {
    const r = await pool.query(`SELECT row_to_json(t)::text AS j FROM "${tablename}" t`);
    for (const row of r.rows) parts.push(`${tablename}: ${row.j}`);
  }
  return parts.join('\n');
}

/** Every key and value in Redis (all types), as text and as raw bytes. */
export async function dumpRedis(redis: Redis): Promise<{ text: string; raw: Buffer[] }> {
  const raw: Buffer[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scanBuffer(cursor, 'COUNT', 500);
    cursor = String(next);
    for (const key of keys) {
      raw.push(key);
      const type = await redis.type(key);
      if (type === 'string') raw.push((await redis.getBuffer(key)) ?? Buffer.alloc(0));
      else if (type === 'hash') {
        for (const [k, v] of Object.entries(await redis.hgetallBuffer(key)))
          raw.push(Buffer.from(k), v);
      } else if (type === 'list') raw.push(...(await redis.lrangeBuffer(key, 0, -1)));
      else if (type === 'set') raw.push(...(await redis.smembersBuffer(key)));
      else if (type === 'zset') raw.push(...(await redis.zrangeBuffer(key, '0', '-1')));
      else if (type === 'stream')
        raw.push(Buffer.from(JSON.stringify(await redis.xrange(key, '-', '+'))));
    }
  } while (cursor !== '0');
  return { text: raw.map((b) => b.toString('latin1')).join('\n'), raw };
}

/** Labels of the needles found anywhere in PostgreSQL or Redis (should be empty). */
export async function findSecrets(
  pool: pg.Pool,
  redis: Redis,
  needles: Needle[],
): Promise<string[]> {
  const db = await dumpDatabase(pool);
  const r = await dumpRedis(redis);
  const found: string[] = [];
  for (const needle of needles) {
    const hit = forms(needle).some((f) => db.includes(f) || r.text.includes(f));
    const rawHit =
      needle.value instanceof Uint8Array &&
      r.raw.some((b) => b.includes(Buffer.from(needle.value as Uint8Array)));
    if (hit || rawHit) found.push(needle.label);
  }
  return found;
}
