import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import {
  type GatewayKeys,
  type GatewayPublicBundle,
  gatewayPublicBundle,
  generateGatewayKeys,
  parseGatewayKeys,
} from '../crypto/grants.ts';

export interface LoadedGatewayKeys {
  keys: GatewayKeys;
  bundle: GatewayPublicBundle;
  source: 'env' | 'file' | 'generated';
}

async function fromFile(file: string, logger?: Logger): Promise<GatewayKeys | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const mode = (await stat(file)).mode & 0o777;
  if (mode & 0o077) {
    // Whoever reads this file opens every live grant: tighten it rather than refuse to start.
    logger?.warn(
      { file, mode: mode.toString(8) },
      'gateway key file was readable by others; set to 0600',
    );
    await chmod(file, 0o600);
  }
  return parseGatewayKeys(text);
}

/**
 * The gateway's long-term X25519 + Ed25519 key pair: `VUTLER_GATEWAY_KEY` if set, else the key
 * file, else generated once into the key file (mode 0600, exclusive create so two nodes starting
 * together end up with the same key: the loser reads the winner's file).
 */
export async function loadGatewayKeys(config: Config, logger?: Logger): Promise<LoadedGatewayKeys> {
  const done = async (keys: GatewayKeys, source: LoadedGatewayKeys['source']) => ({
    keys,
    source,
    bundle: await gatewayPublicBundle(keys),
  });
  if (config.gateway.key) return done(await parseGatewayKeys(config.gateway.key), 'env');
  const file = config.gateway.keyFile;
  const existing = await fromFile(file, logger);
  if (existing) return done(existing, 'file');
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const { keys, serialized } = await generateGatewayKeys();
  try {
    await writeFile(file, `${serialized}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const raced = await fromFile(file, logger);
    if (!raced) throw err;
    return done(raced, 'file');
  }
  logger?.info({ file }, 'generated the gateway key pair');
  return done(keys, 'generated');
}
