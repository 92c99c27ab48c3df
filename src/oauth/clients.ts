import type { LookupAddress } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
import { OAuthError } from './errors.ts';

/** Metadata documents and registrations are small; anything larger is refused unread. */
export const MAX_METADATA_BYTES = 16 * 1024;
export const CIMD_TIMEOUT_MS = 5_000;

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/**
 * A redirect URI a client may register: https anywhere, http only to loopback (RFC 8252 §7.3),
 * or a private-use scheme for native apps (RFC 8252 §7.1, e.g. `cursor://`). No fragments.
 */
export function validRedirectUri(v: string): boolean {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return false;
  }
  if (u.hash || v.includes('#')) return false;
  if (u.protocol === 'https:') return u.hostname !== '';
  if (u.protocol === 'http:') return LOOPBACK_HOSTS.has(u.hostname);
  // Private-use schemes must look like reverse domain names or app names, never script-ish ones.
  return (
    /^[a-z][a-z0-9+.-]*:$/.test(u.protocol) &&
    !['javascript:', 'data:', 'file:', 'vbscript:', 'blob:'].includes(u.protocol)
  );
}

/**
 * Exact string comparison, except that a loopback http redirect may use any port (RFC 8252 §7.3):
 * native clients listen on an ephemeral port they learn only at run time.
 */
export function redirectMatches(registered: string, asked: string): boolean {
  if (registered === asked) return true;
  try {
    const r = new URL(registered);
    const a = new URL(asked);
    if (r.protocol !== 'http:' || a.protocol !== 'http:' || !LOOPBACK_HOSTS.has(r.hostname))
      return false;
    const strip = (u: URL) => {
      u.port = '';
      return u.href;
    };
    return r.hostname === a.hostname && strip(r) === strip(a);
  } catch {
    return false;
  }
}

const text = (max: number) => z.string().trim().min(1).max(max);
const redirectUri = z
  .string()
  .max(2000)
  .refine(validRedirectUri, 'must be an https URL, an http loopback URL or a private-use scheme');

/** The registration fields Vutler uses (RFC 7591 §2); others are accepted and ignored. */
export const clientMetadataSchema = z.object({
  redirect_uris: z.array(redirectUri).min(1).max(10),
  client_name: text(200).optional(),
  client_uri: z
    .url({ protocol: /^https?$/ })
    .max(2000)
    .optional(),
  logo_uri: z.string().max(2000).optional(),
  software_id: text(200).optional(),
  software_version: text(100).optional(),
  token_endpoint_auth_method: z
    .enum(['none'], { error: 'only public clients ("none") are supported' })
    .optional(),
  grant_types: z
    .array(z.enum(['authorization_code', 'refresh_token']))
    .max(2)
    .optional(),
  response_types: z.array(z.literal('code')).max(1).optional(),
  scope: z.string().max(1000).optional(),
});
export type ClientMetadata = z.infer<typeof clientMetadataSchema>;

export function parseClientMetadata(value: unknown): ClientMetadata {
  const r = clientMetadataSchema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const where = issue?.path.join('.') || 'metadata';
  const code = where.startsWith('redirect_uris')
    ? 'invalid_redirect_uri'
    : 'invalid_client_metadata';
  throw new OAuthError(code, `${where}: ${issue?.message ?? 'invalid'}`.slice(0, 300));
}

/** Whether a client_id is a Client ID Metadata Document URL (https with a path). */
export function isMetadataUrl(clientId: string): boolean {
  if (!clientId.startsWith('https://')) return false;
  try {
    const u = new URL(clientId);
    return u.pathname !== '/' && !u.hash && !u.username && !u.password && clientId.length <= 2000;
  } catch {
    return false;
  }
}

// Private, loopback, link-local, CGNAT, multicast and reserved ranges: a metadata URL must not
// make the server reach into its own network (SSRF).
const PRIVATE = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 3],
] as const)
  PRIVATE.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  // No ::ffff:0:0/96 here: BlockList would match every IPv4 address against it; mapped addresses
  // are unwrapped in isPrivateAddress instead.
  ['::', 127],
  ['64:ff9b::', 96],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const)
  PRIVATE.addSubnet(net, bits, 'ipv6');
PRIVATE.addAddress('::1', 'ipv6');

export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true;
  if (family === 6 && address.toLowerCase().startsWith('::ffff:')) {
    const v4 = address.slice(7);
    if (isIP(v4) === 4) return PRIVATE.check(v4, 'ipv4');
  }
  return PRIVATE.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

export interface MetadataFetchOptions {
  allowPrivate: boolean;
  caFile: string | undefined;
}

/** Fetches Client ID Metadata Documents over https with size, time and address limits. */
export class MetadataFetcher {
  private readonly ca: string | undefined;
  constructor(private readonly opts: MetadataFetchOptions) {
    this.ca = opts.caFile ? readFileSync(opts.caFile, 'utf8') : undefined;
  }

  async fetch(clientId: string): Promise<ClientMetadata & { client_name: string }> {
    const url = new URL(clientId);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const addresses: LookupAddress[] =
      isIP(host) !== 0
        ? [{ address: host, family: isIP(host) }]
        : await lookup(host, { all: true }).catch(() => {
            throw new OAuthError('invalid_client', 'The client metadata host does not resolve.');
          });
    const chosen = addresses[0];
    if (!chosen)
      throw new OAuthError('invalid_client', 'The client metadata host does not resolve.');
    if (!this.opts.allowPrivate && addresses.some((a) => isPrivateAddress(a.address)))
      throw new OAuthError(
        'invalid_client',
        'The client metadata URL points to a private or loopback address.',
      );
    const body = await this.get(url, chosen);
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      throw new OAuthError('invalid_client_metadata', 'The client metadata document is not JSON.');
    }
    // The document must name itself (draft-ietf-oauth-client-id-metadata-document §4.1).
    if (
      typeof json !== 'object' ||
      json === null ||
      (json as { client_id?: unknown }).client_id !== clientId
    )
      throw new OAuthError(
        'invalid_client_metadata',
        'The client metadata document must carry its own URL as client_id.',
      );
    const meta = parseClientMetadata(json);
    return { ...meta, client_name: meta.client_name ?? url.host };
  }

  private get(url: URL, at: LookupAddress): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'GET',
          headers: { accept: 'application/json' },
          ca: this.ca,
          timeout: CIMD_TIMEOUT_MS,
          // Connect to the address checked above, so a second DNS answer cannot swap it.
          lookup: (_h, _o, cb) => cb(null, at.address, at.family),
          maxHeaderSize: 8 * 1024,
        },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            reject(
              new OAuthError(
                'invalid_client',
                `Fetching the client metadata document answered ${res.statusCode ?? 'nothing'}.`,
              ),
            );
            return;
          }
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_METADATA_BYTES) {
              req.destroy();
              reject(
                new OAuthError(
                  'invalid_client_metadata',
                  'The client metadata document is too large.',
                ),
              );
              return;
            }
            chunks.push(chunk);
          });
          res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
          res.on('error', () =>
            reject(
              new OAuthError('invalid_client', 'Fetching the client metadata document failed.'),
            ),
          );
        },
      );
      const deadline = setTimeout(() => {
        req.destroy();
        reject(
          new OAuthError('invalid_client', 'Fetching the client metadata document timed out.'),
        );
      }, CIMD_TIMEOUT_MS);
      req.on('close', () => clearTimeout(deadline));
      req.on('timeout', () => req.destroy());
      req.on('error', () =>
        reject(new OAuthError('invalid_client', 'Fetching the client metadata document failed.')),
      );
      req.end();
    });
  }
}
