import { pino } from 'pino';
import { AuditCliError, runAuditCli } from './audit/verify.cli.ts';
import { CONFIG_VARIABLES, type Config, ConfigError, loadConfig } from './config.ts';
import { migrate } from './db/migrate.ts';
import { createPool } from './db/pool.ts';
import { EmbeddedError, startEmbeddedPostgres } from './embedded.ts';
import { loadGatewayKeys } from './gateway/keys.ts';
import { runStdio, StdioSetupError } from './gateway/stdio.ts';
import { resealGithubSecrets } from './github/rotate.ts';
import { addAtRestKey, loadGithubSealer } from './github/sealing.ts';
import { createLogger } from './log.ts';
import { startRuntime, stopOnSignals } from './runtime.ts';

const USAGE = `Usage: vutler <command>

Commands:
  dev       API + workers in one process, on embedded defaults when unconfigured (npm start)
  serve     the HTTP API (applies pending migrations first)
  worker    the background job workers
  migrate   apply pending database migrations to DATABASE_URL (or the embedded database)
  keys rotate-at-rest
            add a new at-rest key (key file) or use the newest of VUTLER_AT_REST_KEYS, and
            re-seal every sealed column with it
  mcp --stdio [--token-file <path>]
            the MCP gateway's tools over stdio for a local MCP client (token: VUTLER_AGENT_TOKEN)
  gateway fingerprint
            print the gateway key's fingerprint, to compare with the web app's Agents page
  audit verify [--user <id>]
            check the audit hash chains and signed checkpoints; names the first bad row (exit 1)

Environment: ${CONFIG_VARIABLES.join(', ')}
See README.md for what each variable does.`;

/**
 * Runs a one-off command against the configured PostgreSQL (or the embedded one, started for
 * it and stopped after) through a small pool that is closed afterwards.
 */
async function withDatabase<T>(
  config: Config,
  body: (
    pool: ReturnType<typeof createPool>,
    logger: ReturnType<typeof createLogger>,
  ) => Promise<T>,
): Promise<T> {
  const logger = createLogger(config.log.level);
  let stopEmbedded: (() => Promise<void>) | undefined;
  let url = config.db.url;
  if (!url) {
    const pg = await startEmbeddedPostgres(config.dataDir, logger);
    url = pg.url;
    stopEmbedded = pg.stop;
  }
  const pool = createPool(url, 2, logger);
  try {
    return await body(pool, logger);
  } finally {
    await pool.end();
    await stopEmbedded?.();
  }
}

async function runMigrate(config: Config): Promise<void> {
  await withDatabase(config, async (pool, logger) => {
    const result = await migrate(pool, { logger });
    process.stdout.write(
      `${result.applied.length} migration(s) applied${result.applied.length ? `: ${result.applied.join(', ')}` : ''}; ${result.alreadyApplied} already applied\n`,
    );
  });
}

async function runKeys(config: Config, args: string[]): Promise<number> {
  if (args[0] !== 'rotate-at-rest') {
    process.stderr.write(`vutler: keys needs rotate-at-rest\n\n${USAGE}\n`);
    return 2;
  }
  return withDatabase(config, async (pool) => {
    const added = config.atRest.keys ? null : await addAtRestKey(config);
    const ring = await loadGithubSealer(config);
    const n = await resealGithubSecrets(pool, ring);
    process.stdout.write(
      `${added ? `added at-rest key ${added}; ` : ''}${n} sealed value(s) re-sealed with key ${ring.currentKeyId}\n`,
    );
    return 0;
  });
}

/** The same 30 digits the Agents page computes from the key it pinned (never the key itself). */
async function runGateway(config: Config, args: string[]): Promise<number> {
  if (args[0] !== 'fingerprint' || args.length > 1) {
    process.stderr.write(`vutler: gateway needs fingerprint\n\n${USAGE}\n`);
    return 2;
  }
  const { bundle } = await loadGatewayKeys(
    config,
    createLogger(config.log.level, pino.destination(2)),
  );
  process.stdout.write(`gateway fingerprint: ${bundle.fingerprint}\n`);
  return 0;
}

async function runMcp(config: Config, args: string[]): Promise<number> {
  if (args[0] !== '--stdio') {
    process.stderr.write(
      `vutler: mcp needs --stdio (HTTP clients use /mcp on vutler serve)\n\n${USAGE}\n`,
    );
    return 2;
  }
  let tokenFile: string | undefined;
  for (let i = 1; i < args.length; i++) {
    if (args[i] === '--token-file' && args[i + 1]) tokenFile = args[++i];
    else {
      process.stderr.write(`vutler: unknown mcp option '${args[i]}'\n`);
      return 2;
    }
  }
  // stdout is the MCP stream: every log line goes to stderr.
  const logger = createLogger(config.log.level, pino.destination(2));
  const stop = await runStdio(config, logger, { tokenFile });
  const done = () => {
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.stdin.on('end', done);
  process.on('SIGTERM', done);
  process.on('SIGINT', done);
  return -1;
}

export async function main(argv: string[]): Promise<number> {
  const command = argv[0];
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return command ? 0 : 2;
  }
  const modes: Record<string, { http: boolean; workers: boolean; migrate: boolean }> = {
    dev: { http: true, workers: true, migrate: true },
    serve: { http: true, workers: false, migrate: true },
    worker: { http: false, workers: true, migrate: false },
  };
  try {
    const config = loadConfig();
    if (command === 'migrate') {
      await runMigrate(config);
      return 0;
    }
    if (command === 'mcp') return await runMcp(config, argv.slice(1));
    if (command === 'audit') {
      const logger = createLogger(config.log.level, pino.destination(2));
      return await runAuditCli(config, argv.slice(1), logger, (l) =>
        process.stdout.write(`${l}\n`),
      );
    }
    if (command === 'keys') return await runKeys(config, argv.slice(1));
    if (command === 'gateway') return await runGateway(config, argv.slice(1));
    const mode = modes[command];
    if (!mode) {
      process.stderr.write(`vutler: unknown command '${command}'\n\n${USAGE}\n`);
      return 2;
    }
    const logger = createLogger(config.log.level);
    const runtime = await startRuntime(config, logger, mode);
    stopOnSignals(runtime, config, logger);
    return -1; // keep running
  } catch (err) {
    if (
      err instanceof ConfigError ||
      err instanceof EmbeddedError ||
      err instanceof StdioSetupError ||
      err instanceof AuditCliError
    ) {
      process.stderr.write(`vutler: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`vutler: ${(err as Error).message}\n`);
    return 1;
  }
}
