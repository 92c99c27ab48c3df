import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Config } from '../config.ts';
import { parseGatewayKeys } from '../crypto/grants.ts';
import { createPool } from '../db/pool.ts';
import { startEmbeddedPostgres } from '../embedded.ts';
import { AuditChainService } from './chain.service.ts';

export class AuditCliError extends Error {
  override name = 'AuditCliError';
}

/**
 * The gateway's public key from `VUTLER_GATEWAY_KEY` or the key file. Never generated here and
 * never read from the database: a verifier that trusted stored keys would accept re-signed rows.
 */
async function gatewayPublicKey(config: Config): Promise<Uint8Array> {
  let line = config.gateway.key;
  if (!line) {
    try {
      line = await readFile(config.gateway.keyFile, 'utf8');
    } catch {
      throw new AuditCliError(
        `no gateway key: set VUTLER_GATEWAY_KEY or VUTLER_GATEWAY_KEY_FILE (looked at ${config.gateway.keyFile})`,
      );
    }
  }
  return (await parseGatewayKeys(line)).ed25519.publicKey;
}

/**
 * `vutler audit verify [--user <id>]`: checks every user's (or one user's) chain and checkpoints,
 * prints one line per user, and names the first row that does not verify. Exit 0 when all
 * verify, 1 when a chain is broken, 2 on bad arguments.
 */
export async function runAuditCli(
  config: Config,
  args: string[],
  logger: Logger,
  out: (line: string) => void,
): Promise<number> {
  if (args[0] !== 'verify') {
    out('usage: vutler audit verify [--user <id>]');
    return 2;
  }
  let user: string | undefined;
  for (let i = 1; i < args.length; i++) {
    const v = args[i + 1];
    if (args[i] === '--user' && v !== undefined && z.uuid().safeParse(v).success) {
      user = v.toLowerCase();
      i++;
    } else {
      out(`vutler: audit verify: bad option '${args[i]}' (--user needs a user id)`);
      return 2;
    }
  }
  const key = await gatewayPublicKey(config);
  let url = config.db.url;
  let stopEmbedded: (() => Promise<void>) | undefined;
  if (!url) {
    const pg = await startEmbeddedPostgres(config.dataDir, logger);
    url = pg.url;
    stopEmbedded = pg.stop;
  }
  const pool = createPool(url, 2, logger);
  try {
    const chain = new AuditChainService(pool, async () => key);
    const users = user ? [user] : await chain.users();
    let broken = 0;
    for (const u of users) {
      const v = await chain.verifyUser(u);
      const sealed =
        v.sealedThrough === null ? 'nothing sealed yet' : `sealed through #${v.sealedThrough}`;
      if (v.firstBreak) {
        broken++;
        const b = v.firstBreak;
        out(
          `user ${u}: BROKEN at ${b.rowId ? `row ${b.rowId}` : 'a missing row'} (chain #${b.chainIndex}): ${b.reason}`,
        );
      } else {
        out(`user ${u}: ok, ${v.linked} linked row(s), ${sealed}, ${v.pending} pending`);
      }
    }
    out(
      broken
        ? `${broken} of ${users.length} audit chain(s) broken`
        : `${users.length} audit chain(s) verified`,
    );
    return broken ? 1 : 0;
  } finally {
    await pool.end();
    await stopEmbedded?.();
  }
}
