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

/** The subset of JSON Schema (draft-07) that `z.toJSONSchema` writes for the tools' inputs. */
interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  format?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  maxItems?: number;
  anyOf?: JsonSchema[];
  allOf?: JsonSchema[];
}

/**
 * Arguments for one tool, drawn from its advertised input schema: mostly well-typed values
 * (ids from `ids`, edge-of-range numbers, pattern-matching strings), each node sometimes swapped
 * for a value of another type, required keys sometimes dropped and unknown keys sometimes added,
 * so both the valid paths and every validation branch are reached.
 * (No maintained library maps zod 4 / JSON Schema to fast-check 4: zod-fast-check is for zod 3.)
 */
export function argsFor(
  schema: JsonSchema,
  ids: string[],
  /** Ids a property of this name most likely wants (`chatId` → chats), drawn more often. */
  byName: Record<string, string[]> = {},
): fc.Arbitrary<unknown> {
  const wrong = fc.oneof(jsonish, nastyString, fc.double(), fc.constant(null));
  const node = (s: JsonSchema, key = ''): fc.Arbitrary<unknown> => {
    const right = exact(s, key);
    return fc.oneof({ weight: 19, arbitrary: right }, { weight: 1, arbitrary: wrong });
  };
  const exact = (s: JsonSchema, key: string): fc.Arbitrary<unknown> => {
    if (s.const !== undefined) return fc.constant(s.const);
    if (s.enum) return fc.constantFrom(...s.enum);
    if (s.anyOf) return fc.oneof(...s.anyOf.map((x) => node(x, key)));
    if (s.allOf?.[0]) return node({ ...s.allOf[0], ...s, allOf: undefined }, key);
    const type = Array.isArray(s.type) ? s.type[0] : s.type;
    switch (type) {
      case 'object': {
        const props = Object.entries(s.properties ?? {});
        const required = new Set(s.required ?? []);
        return fc
          .record(
            {
              known: fc.record(Object.fromEntries(props.map(([k, v]) => [k, node(v, k)])), {
                requiredKeys: [],
              }),
              keep: fc.array(fc.nat(9), { minLength: props.length, maxLength: props.length }),
              // An unknown key one time in ten (the schemas are strict: it must be refused).
              extra: fc.oneof(
                { weight: 9, arbitrary: fc.constant(undefined) },
                {
                  weight: 1,
                  arbitrary: fc.dictionary(nastyString, fc.jsonValue({ maxDepth: 1 }), {
                    minKeys: 1,
                    maxKeys: 2,
                  }),
                },
              ),
            },
            { requiredKeys: ['known', 'keep', 'extra'] },
          )
          .map(({ known, keep, extra }) => {
            const out: Record<string, unknown> = {};
            props.forEach(([k], i) => {
              // Required keys stay nine times in ten; optional ones half the time.
              if (k in known && (keep[i] ?? 0) >= (required.has(k) ? 1 : 5))
                out[k] = (known as Record<string, unknown>)[k];
            });
            return extra ? { ...out, ...extra } : out;
          });
      }
      case 'string': {
        if (s.format === 'uuid')
          return fc.oneof(
            { weight: 6, arbitrary: fc.constantFrom(...(byName[key]?.length ? byName[key] : ids)) },
            { weight: 2, arbitrary: fc.constantFrom(...ids) },
            { weight: 1, arbitrary: fc.uuid({ version: 7 }) },
            { weight: 1, arbitrary: nastyString },
          );
        if (s.pattern)
          return fc.oneof(
            { weight: 4, arbitrary: fc.stringMatching(new RegExp(s.pattern)) },
            { weight: 1, arbitrary: nastyString },
          );
        return fc.oneof(
          {
            weight: 4,
            arbitrary: fc.string({
              minLength: Math.max(s.minLength ?? 0, 1),
              maxLength: Math.min(s.maxLength ?? 60, 60),
            }),
          },
          { weight: 1, arbitrary: fc.constantFrom(...ids) },
          { weight: 1, arbitrary: nastyString },
          { weight: 1, arbitrary: fc.constant('x'.repeat((s.maxLength ?? 100) + 1)) },
        );
      }
      case 'integer':
      case 'number': {
        const lo = s.minimum ?? -1e6;
        const hi = s.maximum ?? 1e6;
        return fc.oneof(
          { weight: 4, arbitrary: fc.integer({ min: Math.max(lo, -1e9), max: Math.min(hi, 1e9) }) },
          {
            weight: 1,
            arbitrary: fc.constantFrom(
              lo - 1,
              hi + 1,
              0,
              -1,
              2 ** 53,
              1.5,
              Number.MAX_SAFE_INTEGER,
            ),
          },
        );
      }
      case 'boolean':
        return fc.boolean();
      case 'array':
        return fc.array(node(s.items ?? {}, key), {
          maxLength: Math.min((s.maxItems ?? 4) + 1, 20),
        });
      default:
        return wrong;
    }
  };
  return node(schema);
}
