/**
 * Ready-to-paste configurations for an agent token: the MCP URL and what Claude Desktop, Claude
 * Code and the MCP Inspector need, over HTTP and over stdio. Pure, so unit tests check that each
 * one parses and carries the token where the client reads it (tests/unit/web/mcp-config.test.ts).
 */

export interface McpConfig {
  id: string;
  client: 'Claude Code' | 'Claude Desktop' | 'MCP Inspector';
  transport: 'HTTP' | 'stdio';
  /** Where it goes (a terminal, a config file). */
  where: string;
  text: string;
}

/** The server name the configurations register Vutler under. */
export const SERVER_NAME = 'vutler';

/** stdio runs the gateway on the agent's machine, next to the database: these it must fill in. */
const STDIO_ENV = {
  DATABASE_URL: 'postgres://vutler@127.0.0.1:5432/vutler',
  REDIS_URL: 'redis://127.0.0.1:6379',
};

export function mcpUrl(origin: string): string {
  return `${origin.replace(/\/+$/, '')}/mcp`;
}

/** Quotes one argument for a POSIX shell. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export function mcpConfigs(origin: string, token: string): McpConfig[] {
  const url = mcpUrl(origin);
  const bearer = `Bearer ${token}`;
  const q = shellQuote;
  const json = (v: unknown) => JSON.stringify(v, null, 2);
  return [
    {
      id: 'claude-code-http',
      client: 'Claude Code',
      transport: 'HTTP',
      where: 'a terminal',
      text: `claude mcp add --transport http ${SERVER_NAME} ${q(url)} --header ${q(`Authorization: ${bearer}`)}`,
    },
    {
      id: 'claude-code-stdio',
      client: 'Claude Code',
      transport: 'stdio',
      where: 'a terminal on a machine that reaches the database',
      text: [
        `claude mcp add ${SERVER_NAME}`,
        `--env VUTLER_AGENT_TOKEN=${q(token)}`,
        `--env DATABASE_URL=${q(STDIO_ENV.DATABASE_URL)}`,
        `--env REDIS_URL=${q(STDIO_ENV.REDIS_URL)}`,
        '-- npx vutler mcp --stdio',
      ].join(' \\\n  '),
    },
    {
      id: 'claude-desktop-http',
      client: 'Claude Desktop',
      transport: 'HTTP',
      where: 'claude_desktop_config.json (through the mcp-remote bridge)',
      text: json({
        mcpServers: {
          [SERVER_NAME]: {
            command: 'npx',
            // mcp-remote expands ${AUTH_HEADER} from env: the token stays out of `args`.
            args: ['mcp-remote', url, '--header', `Authorization:$${'{AUTH_HEADER}'}`],
            env: { AUTH_HEADER: bearer },
          },
        },
      }),
    },
    {
      id: 'claude-desktop-stdio',
      client: 'Claude Desktop',
      transport: 'stdio',
      where: 'claude_desktop_config.json on a machine that reaches the database',
      text: json({
        mcpServers: {
          [SERVER_NAME]: {
            command: 'npx',
            args: ['vutler', 'mcp', '--stdio'],
            env: { VUTLER_AGENT_TOKEN: token, ...STDIO_ENV },
          },
        },
      }),
    },
    {
      id: 'inspector-http',
      client: 'MCP Inspector',
      transport: 'HTTP',
      where: 'a terminal (Node 22.19 or later)',
      text: `npx @modelcontextprotocol/inspector --cli ${q(url)} --transport http --header ${q(`Authorization: ${bearer}`)} --method tools/list`,
    },
    {
      id: 'inspector-stdio',
      client: 'MCP Inspector',
      transport: 'stdio',
      where: 'a terminal on a machine that reaches the database (Node 22.19 or later)',
      text: [
        'npx @modelcontextprotocol/inspector',
        `-e VUTLER_AGENT_TOKEN=${q(token)}`,
        `-e DATABASE_URL=${q(STDIO_ENV.DATABASE_URL)}`,
        `-e REDIS_URL=${q(STDIO_ENV.REDIS_URL)}`,
        '-- npx vutler mcp --stdio',
      ].join(' \\\n  '),
    },
  ];
}
