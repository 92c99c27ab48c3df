import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { Logger } from 'pino';
import { createServices } from '../app.ts';
import { loadAtRestKeyring } from '../atrest.ts';
import type { Config } from '../config.ts';
import { startRuntime } from '../runtime.ts';
import { loadServerSecrets } from '../secrets.ts';
import { buildMcpServer } from './mcp.ts';

export class StdioSetupError extends Error {
  override name = 'StdioSetupError';
}

async function agentToken(config: Config, tokenFile: string | undefined): Promise<string> {
  if (tokenFile) {
    try {
      return (await readFile(tokenFile, 'utf8')).trim();
    } catch {
      throw new StdioSetupError(`cannot read the token file ${tokenFile}`);
    }
  }
  if (config.gateway.agentToken) return config.gateway.agentToken;
  throw new StdioSetupError(
    'set VUTLER_AGENT_TOKEN or pass --token-file <path> (an agent token, vta_…)',
  );
}

/**
 * `vutler mcp --stdio`: the same tools as `/mcp`, over stdin/stdout for a local MCP client.
 * stdout carries only the protocol (logs go to stderr). The token is checked again on every
 * call, so revoking it stops a running session at its next call.
 */
export async function runStdio(
  config: Config,
  logger: Logger,
  opts: { tokenFile?: string },
): Promise<() => Promise<void>> {
  const token = await agentToken(config, opts.tokenFile);
  const runtime = await startRuntime(config, logger, {
    http: false,
    workers: false,
    migrate: false,
  });
  try {
    const services = createServices({
      config,
      logger,
      pool: runtime.pool,
      redis: runtime.redis,
      secrets: await loadServerSecrets(config),
      atRest: await loadAtRestKeyring(config),
    });
    const authenticate = async () => {
      const p = await services.agentTokens.authenticate(token);
      return {
        tokenId: p.tokenId,
        userId: p.userId,
        agentName: p.agentName,
        tokenExpiresAt: p.expiresAt,
      };
    };
    const first = await authenticate().catch(() => {
      throw new StdioSetupError('the agent token is invalid, expired or revoked');
    });
    const keyed = await services.gateway.keyed();
    const server = buildMcpServer(keyed.parts, {
      caller: authenticate,
      meta: () => ({ requestId: randomUUID(), ip: null, userAgent: 'vutler-mcp-stdio' }),
      // Read per listing, so a long stdio session sees permission changes.
      permissions: (who) => services.gateway.access.permissionsOf(who),
    });
    const stop = async () => {
      await server.close().catch(() => undefined);
      await services.gateway.close();
      await runtime.stop();
    };
    await server.connect(new StdioServerTransport());
    logger.info({ agentName: first.agentName }, 'mcp stdio ready');
    return stop;
  } catch (err) {
    await runtime.stop();
    throw err;
  }
}
