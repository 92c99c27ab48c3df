import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  getDefaultEnvironment,
  StdioClientTransport,
} from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import type { UpstreamConfig, UpstreamsFile } from './config.ts';

/** MCP tool names: 1-128 of these; ours must also fit `decryption_audit_log.tool_name` (64). */
const TOOL_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
export const MAX_FEDERATED_NAME = 64;
export const SEPARATOR = '__';

export interface UpstreamTool {
  upstream: string;
  /** The upstream's own name for it. */
  name: string;
  /** `<upstream>__<name>`, as agents see it. */
  fullName: string;
  listing: Tool;
}

/**
 * One upstream MCP server, as a client of the gateway process (never of an agent): connected on
 * start and again after its transport closes. It is given only its configured environment or
 * headers, so no agent token, session or key of ours ever reaches it.
 */
class Upstream {
  private client: Client | undefined;
  private connecting: Promise<Client> | undefined;
  tools: UpstreamTool[] = [];

  constructor(
    readonly name: string,
    private readonly cfg: UpstreamConfig,
    private readonly logger: Logger,
  ) {}

  private transport(): Transport {
    if ('command' in this.cfg) {
      return new StdioClientTransport({
        command: this.cfg.command,
        args: this.cfg.args,
        env: { ...getDefaultEnvironment(), ...this.cfg.env },
        cwd: this.cfg.cwd,
        // The upstream's stderr is its own log, not ours: drop it rather than mix it into ours.
        stderr: 'ignore',
      });
    }
    return new StreamableHTTPClientTransport(new URL(this.cfg.url), {
      requestInit: { headers: { ...this.cfg.headers } },
    });
  }

  connect(): Promise<Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= (async () => {
      const client = new Client({ name: 'vutler-gateway', version: '0.1.0' });
      client.onclose = () => {
        if (this.client === client) this.client = undefined;
      };
      try {
        await client.connect(this.transport(), { timeout: this.cfg.timeoutMs });
        const tools: Tool[] = [];
        let cursor: string | undefined;
        do {
          const page = await client.listTools(cursor ? { cursor } : undefined, {
            timeout: this.cfg.timeoutMs,
          });
          tools.push(...page.tools);
          cursor = page.nextCursor;
        } while (cursor && tools.length < 1000);
        this.tools = this.federated(tools);
        this.client = client;
        this.logger.info(
          { upstream: this.name, tools: this.tools.length },
          'upstream MCP server connected',
        );
        return client;
      } catch (err) {
        await client.close().catch(() => undefined);
        throw err;
      } finally {
        this.connecting = undefined;
      }
    })();
    return this.connecting;
  }

  private federated(tools: Tool[]): UpstreamTool[] {
    const out: UpstreamTool[] = [];
    for (const t of tools) {
      const fullName = `${this.name}${SEPARATOR}${t.name}`;
      if (!TOOL_NAME.test(t.name) || fullName.length > MAX_FEDERATED_NAME) {
        this.logger.warn(
          { upstream: this.name, tool: t.name.slice(0, 200) },
          'upstream tool skipped: unusable name',
        );
        continue;
      }
      out.push({
        upstream: this.name,
        name: t.name,
        fullName,
        listing: {
          ...t,
          name: fullName,
          description: `[${this.name}] ${t.description ?? ''}`.trim(),
        },
      });
    }
    return out;
  }

  async call(tool: string, args: Record<string, unknown>): Promise<CallToolResult> {
    const client = await this.connect();
    return (await client.callTool({ name: tool, arguments: args }, undefined, {
      timeout: this.cfg.timeoutMs,
    })) as CallToolResult;
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    await c?.close().catch(() => undefined);
  }
}

/** Every configured upstream of this process. */
export class UpstreamHub {
  private readonly upstreams: Map<string, Upstream>;

  constructor(file: UpstreamsFile, logger: Logger) {
    this.upstreams = new Map(
      Object.entries(file.upstreams).map(([name, cfg]) => [name, new Upstream(name, cfg, logger)]),
    );
    this.logger = logger;
  }

  private readonly logger: Logger;

  /** Connects to each upstream; one that is down is logged and retried on its next call. */
  async start(): Promise<void> {
    await Promise.all(
      [...this.upstreams.values()].map((u) =>
        u.connect().catch((err: unknown) => {
          this.logger.warn(
            { upstream: u.name, err: { message: (err as Error).message } },
            'upstream MCP server unavailable; its tools are hidden until it connects',
          );
        }),
      ),
    );
  }

  names(): string[] {
    return [...this.upstreams.keys()];
  }

  /** The tools known from each upstream's last successful listing. */
  tools(): UpstreamTool[] {
    return [...this.upstreams.values()].flatMap((u) => u.tools);
  }

  call(upstream: string, tool: string, args: Record<string, unknown>): Promise<CallToolResult> {
    const u = this.upstreams.get(upstream);
    if (!u) throw new Error(`unknown upstream ${upstream}`);
    return u.call(tool, args);
  }

  async close(): Promise<void> {
    await Promise.all([...this.upstreams.values()].map((u) => u.close()));
  }
}
