import { readFile } from 'node:fs/promises';
import { z } from 'zod';

/** Upstream names become tool-name prefixes (`<upstream>__<tool>`) and `upstream:<name>` permissions. */
export const upstreamName = z
  .string()
  .regex(
    /^[a-z][a-z0-9-]{0,30}$/,
    'must be 1-31 lowercase letters, digits or "-", starting with a letter',
  );

const common = {
  /** Per call, and for connecting. */
  timeoutMs: z.number().int().min(100).max(600_000).default(30_000),
};

const stdioUpstream = z
  .object({
    command: z.string().min(1),
    args: z.array(z.string()).default([]),
    /** Added to a minimal inherited environment (PATH, HOME, …): nothing else of ours leaks. */
    env: z.record(z.string(), z.string()).default({}),
    cwd: z.string().min(1).optional(),
    ...common,
  })
  .strict();

const httpUpstream = z
  .object({
    url: z.url({ protocol: /^https?$/ }),
    /** Sent on every request to this upstream (e.g. its own API key). Never the agent's token. */
    headers: z.record(z.string(), z.string()).default({}),
    ...common,
  })
  .strict()
  .refine(
    (u) => !Object.keys(u.headers).some((h) => h.toLowerCase() === 'host'),
    'headers must not set Host',
  );

export const upstreamsFileSchema = z
  .object({
    upstreams: z.record(upstreamName, z.union([stdioUpstream, httpUpstream])),
  })
  .strict();

export type UpstreamsFile = z.infer<typeof upstreamsFileSchema>;
export type UpstreamConfig = UpstreamsFile['upstreams'][string];
export type StdioUpstreamConfig = z.infer<typeof stdioUpstream>;

export class UpstreamsConfigError extends Error {
  override name = 'UpstreamsConfigError';
}

/** Reads and validates the upstreams file (`VUTLER_UPSTREAMS_FILE`); fails fast with one line. */
export async function loadUpstreamsFile(file: string): Promise<UpstreamsFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new UpstreamsConfigError(`cannot read the upstreams file ${file}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UpstreamsConfigError(`the upstreams file ${file} is not valid JSON`);
  }
  const parsed = upstreamsFileSchema.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new UpstreamsConfigError(
      `the upstreams file ${file}: ${first?.path.join('.') || 'root'} ${first?.message ?? 'is invalid'}`,
    );
  }
  return parsed.data;
}
