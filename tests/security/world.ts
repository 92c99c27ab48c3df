import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { TestServer } from '../helpers/app.ts';
import { connectExampleRepo, newSha } from '../helpers/github.ts';
import type { GithubStandIn } from '../helpers/github-standin.ts';
import { person } from '../helpers/people.ts';

type Person = Awaited<ReturnType<typeof person>>;

/** What one tenant owns: every kind of id a route or a tool takes. */
export interface Tenant {
  who: Person;
  agentName: string;
  /** The agent's `vta_` token and its id. */
  token: string;
  tokenId: string;
  chatId: string;
  messageId: string;
  /** A needle in the message, the file and the memory: must never reach another tenant. */
  secret: string;
  fileId: string;
  memoryId: string;
  integrationId: string;
  repoId: string;
  deploymentId: string;
  grantIds: string[];
  permissionIds: string[];
}

/** One JSON-RPC `tools/call` through the app in process; the parsed JSON-RPC answer. */
export async function mcpCall(
  server: TestServer,
  token: string,
  body: unknown,
  raw = false,
): Promise<{ status: number; json: unknown; text: string }> {
  const res = await server.vutler.app.request('/mcp', {
    method: 'POST',
    headers: {
      // A Request built in process has no Host; the DNS-rebinding guard wants a loopback one.
      host: '127.0.0.1',
      authorization: `Bearer ${token}`,
      accept: 'application/json, text/event-stream',
      'content-type': 'application/json',
    },
    body: raw ? (body as string) : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

export async function tool(
  server: TestServer,
  token: string,
  name: string,
  args: unknown,
): Promise<{
  status: number;
  text: string;
  result?: {
    isError?: boolean;
    structuredContent?: Record<string, unknown>;
    _meta?: Record<string, unknown>;
  };
  error?: { code: number; message: string };
}> {
  const r = await mcpCall(server, token, {
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: { name, arguments: args },
  });
  const j = r.json as { result?: never; error?: never } | undefined;
  return { status: r.status, text: r.text, result: j?.result, error: j?.error };
}

/**
 * A tenant with one of everything: a group chat with a message, a file, agent memory, a GitHub
 * repository with one deployment, an agent allowed (and granted) all of it, read and write.
 */
export async function tenant(
  server: TestServer,
  standin: GithubStandIn,
  name: string,
): Promise<Tenant> {
  const who = await person(server.url, name);
  const c = who.client;
  const agentName = 'claude';
  const secret = `needle${name}${randomBytes(8).toString('hex')}`;
  const chatId = (await c.chats.create({ kind: 'group', memberIds: [] })).id;
  const messageId = (await c.chats.send(chatId, `${secret} in chat`)).id;
  const fileId = (
    await c.drive.upload(new Blob([`${secret} in file`]), { name: 'plan.txt', type: 'text/plain' })
  ).id;
  const { token, id: tokenId } = await c.createAgentToken({ agentName });
  for (const resourceType of ['chat', 'files', 'memory', 'github'] as const) {
    await c.agents.setPermission({
      agentName,
      resourceType,
      accessLevel: resourceType === 'github' ? 'metadata' : 'decrypt_ephemeral',
      conditions: { allow_write: true },
    });
  }
  await c.agents.grantChat(chatId, agentName);
  await c.agents.grantFile(fileId, agentName);
  await c.memory.grant(agentName);
  const gh = await connectExampleRepo(server.url, c.session?.token ?? '', standin);
  const remembered = await tool(server, token, 'remember', { text: `${secret} in memory` });
  expect(remembered.result?.structuredContent, remembered.text).toBeDefined();
  const deployed = await tool(server, token, 'trigger_deploy', {
    repoId: gh.repo.id,
    sha: newSha(),
  });
  expect(deployed.result?.structuredContent, deployed.text).toBeDefined();
  const deployment = deployed.result?.structuredContent?.deployment as { id: string };
  return {
    who,
    agentName,
    token,
    tokenId,
    chatId,
    messageId,
    secret,
    fileId,
    memoryId: remembered.result?.structuredContent?.id as string,
    integrationId: gh.integration.id,
    repoId: gh.repo.id,
    deploymentId: deployment.id,
    grantIds: (await c.agents.grants(agentName)).map((g) => g.grantId),
    permissionIds: (await c.agents.permissions(agentName)).map((p) => p.id),
  };
}

/** Every id of a tenant (to scan another tenant's answers for). */
export function idsOf(t: Tenant): string[] {
  return [
    t.chatId,
    t.messageId,
    t.fileId,
    t.memoryId,
    t.integrationId,
    t.repoId,
    t.deploymentId,
    t.tokenId,
    ...t.grantIds,
    ...t.permissionIds,
  ];
}
