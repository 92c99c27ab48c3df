import fc from 'fast-check';
import type { Pool } from 'pg';
import { dumpDatabase } from '../helpers/canary.ts';

/** A digest of every stored row, minus "last seen" timestamps that reads legitimately touch. */
export async function storedState(pool: Pool): Promise<string> {
  return (await dumpDatabase(pool as never))
    .split('\n')
    .map((l) => l.replace(/"last_[a-z_]*at":"[^"]*"/g, ''))
    .sort()
    .join('\n');
}

/** Strings that have broken parsers before: unicode, huge numbers, prototype keys, SQL, paths. */
export const nastyString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    '',
    ' ',
    '__proto__',
    'constructor',
    "' OR 1=1 --",
    '../../etc/passwd',
    '%00',
    '\u0000',
    '😀'.repeat(50),
    '9'.repeat(400),
    '-1',
    'NaN',
    'null',
    '00000000-0000-0000-0000-000000000000',
    'ffffffff-ffff-ffff-ffff-ffffffffffff',
  ),
  fc.uuid(),
);

export const jsonish = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.dictionary(nastyString, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 6 }),
  fc.constant({ __proto__: { admin: true } }),
);
