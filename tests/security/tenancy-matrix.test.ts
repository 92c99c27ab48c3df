import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayKeyLine } from '../helpers/gateway.ts';
import { newSha, useGithubServer } from '../helpers/github.ts';
import { vdriveEnv } from '../helpers/vdrive.ts';
import { idsOf, type Tenant, tenant, tool } from './world.ts';

/**
 * The cross-tenant matrix over everything a tenant owns: Alice (her session, and her agent
 * allowed everything of hers) tries every files, shares, chat, grant, permission, token, GitHub
 * and memory route, and every MCP tool, with Bob's ids and with ids nobody has. Each answer must
 * be a 4xx (a refusal for tools), byte-for-byte the same for Bob's id as for the missing one
 * (so nothing tells "exists, not yours" from "does not exist"), carry none of Bob's ids or
 * content, and Bob's things must be untouched afterwards.
 */
type Kind =
  | 'chat'
  | 'message'
  | 'file'
  | 'memory'
  | 'repo'
  | 'integration'
  | 'grant'
  | 'permission'
  | 'token';

/**
 * An id nobody has, next to `id` (its last hex digit changed): it sorts where `id` sorts, so
 * cursors and keyset pages treat both alike and only existence could tell them apart.
 */
function beside(id: string): string {
  const last = id.at(-1) === '0' ? '1' : '0';
  return `${id.slice(0, -1)}${last}`;
}

const key = await gatewayKeyLine();
const drive = vdriveEnv();
afterAll(() => drive.cleanup());

/** The request id differs per call; the id sent is echoed in `instance`: both are masked. */
function normalize(text: string, id: string): string {
  return text
    .split(id)
    .join('<ID>')
    .replace(/"requestId":"[^"]*"/g, '"requestId":"<R>"')
    .replace(/request [0-9a-f-]{36}/g, 'request <R>');
}

describe('cross-tenant matrix over every route and tool', () => {
  const t = useGithubServer({ VUTLER_GATEWAY_KEY: key, ...drive.overrides });
  let alice: Tenant;
  let bob: Tenant;
  let bobIds: Record<Kind, string>;
  let MISSING: Record<Kind, string>;

  beforeAll(async () => {
    alice = await tenant(t.server, t.standin, 'alice');
    bob = await tenant(t.server, t.standin, 'bob');
    bobIds = {
      chat: bob.chatId,
      message: bob.messageId,
      file: bob.fileId,
      memory: bob.memoryId,
      repo: bob.repoId,
      integration: bob.integrationId,
      grant: bob.grantIds[0] as string,
      permission: bob.permissionIds[0] as string,
      token: bob.tokenId,
    };
    MISSING = Object.fromEntries(Object.entries(bobIds).map(([k, v]) => [k, beside(v)])) as Record<
      Kind,
      string
    >;
  });

  const bobRows = async () =>
    (
      await t.db.pool.query<{ n: string }>(
        `SELECT (SELECT count(*) FROM messages WHERE chat_id = $1) || '/' ||
                (SELECT count(*) FROM files WHERE owner_id = $2 AND deleted_at IS NULL) || '/' ||
                (SELECT count(*) FROM agent_memories WHERE user_id = $2) || '/' ||
                (SELECT count(*) FROM deployments WHERE repo_id = $3) || '/' ||
                (SELECT count(*) FROM agent_key_grants WHERE user_id = $2) || '/' ||
                (SELECT count(*) FROM agent_permissions WHERE user_id = $2) || '/' ||
                (SELECT count(*) FROM agent_tokens WHERE user_id = $2 AND revoked_at IS NULL) || '/' ||
                (SELECT count(*) FROM connected_repos WHERE id = $3) AS n`,
        [bob.chatId, bob.who.id, bob.repoId],
      )
    ).rows[0]?.n;

  function leakFree(label: string, text: string, sent: string) {
    expect(text, label).not.toContain(bob.secret);
    for (const id of idsOf(bob)) if (id !== sent) expect(text, label).not.toContain(id);
  }

  it('answers every route the same for another user’s id as for a missing one', async () => {
    const before = await bobRows();
    const bin = () => new Uint8Array(new ArrayBuffer(64));
    const routes: Array<[string, string, Kind, unknown?]> = [
      ['GET', '/api/files/:id', 'file'],
      ['GET', '/api/files/:id/upload', 'file'],
      ['PUT', '/api/files/:id/chunks/0', 'file', bin()],
      ['POST', '/api/files/:id/complete', 'file'],
      ['GET', '/api/files/:id/chunks/0', 'file'],
      ['GET', '/api/files/:id/content', 'file'],
      ['GET', '/api/files/:id/preview', 'file'],
      ['POST', '/api/files/:id/shares', 'file', {}],
      ['DELETE', '/api/files/:id', 'file'],
      ['GET', '/api/shares/:id', 'file'],
      ['GET', '/api/shares/:id/preview', 'file'],
      ['GET', '/api/shares/:id/chunks/0', 'file'],
      ['GET', '/api/shares/:id/content', 'file'],
      ['DELETE', '/api/shares/:id', 'file'],
      ['GET', '/api/chats/:id', 'chat'],
      ['GET', '/api/chats/:id/log', 'chat'],
      ['GET', '/api/chats/:id/keys', 'chat'],
      ['GET', '/api/chats/:id/messages', 'chat'],
      ['POST', '/api/chats/:id/members', 'chat', { userId: 'ALICE' }],
      ['POST', '/api/chats/:id/epochs', 'chat', {}],
      ['POST', '/api/chats/:id/messages', 'chat', {}],
      ['DELETE', `/api/chats/ALICECHAT/messages/:id`, 'message'],
      ['POST', '/api/agents/grants/:id/wraps', 'grant', { wraps: [] }],
      ['DELETE', '/api/agents/grants/:id', 'grant'],
      ['DELETE', '/api/agents/permissions/:id', 'permission'],
      ['DELETE', '/api/agents/tokens/:id', 'token'],
      ['DELETE', '/api/github/integrations/:id', 'integration'],
      ['PATCH', '/api/github/repos/:id', 'repo', { branch: 'main' }],
      ['GET', '/api/github/repos/:id/deployments', 'repo'],
      ['POST', '/api/github/repos/:id/deployments', 'repo', { sha: newSha() }],
      ['POST', '/api/github/repos/:id/rollback', 'repo', {}],
      ['PUT', '/api/memory/claude/entries/:id', 'memory', { ciphertext: 'AAAA' }],
      ['DELETE', '/api/memory/claude/entries/:id', 'memory'],
    ];
    const session = alice.who.client.session?.token as string;
    const call = async (method: string, tmpl: string, id: string, body: unknown) => {
      const path = tmpl
        .replace(':id', id)
        .replace('ALICECHAT', alice.chatId)
        .replace('ALICE', alice.who.id);
      const isBytes = body instanceof Uint8Array;
      const res = await fetch(`${t.server.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${session}`,
          'content-type': isBytes ? 'application/octet-stream' : 'application/json',
        },
        body:
          body === undefined
            ? undefined
            : isBytes
              ? new Blob([body as Uint8Array<ArrayBuffer>])
              : JSON.stringify(body).replace('"ALICE"', JSON.stringify(alice.who.id)),
      });
      return { status: res.status, text: await res.text() };
    };
    const seen: string[] = [];
    for (const [method, tmpl, kind, body] of routes) {
      const label = `${method} ${tmpl}`;
      const foreign = await call(method, tmpl, bobIds[kind], body);
      const missing = await call(method, tmpl, MISSING[kind], body);
      expect(foreign.status, `${label}: ${foreign.text}`).toBeGreaterThanOrEqual(400);
      expect(foreign.status, `${label}: ${foreign.text}`).toBeLessThan(500);
      leakFree(label, foreign.text, bobIds[kind]);
      expect(
        { status: foreign.status, body: normalize(foreign.text, bobIds[kind]) },
        `${label}: Bob's id answered differently from a missing one`,
      ).toEqual({ status: missing.status, body: normalize(missing.text, MISSING[kind]) });
      seen.push(`${label} ${foreign.status}`);
    }
    console.log(`tenancy: ${routes.length} routes, foreign = missing: ${seen.join(', ')}`);
    // The lists are Alice's alone.
    for (const path of [
      '/api/files',
      '/api/chats',
      '/api/agents/grants',
      '/api/agents/permissions',
      '/api/agents/tokens',
      '/api/github/repos',
      '/api/github/integrations',
      '/api/memory/claude/entries',
      '/api/audit',
    ]) {
      const r = await call('GET', path, '', undefined);
      expect(r.status, path).toBe(200);
      leakFree(path, r.text, '');
    }
    expect(await bobRows()).toBe(before);
  });

  it('answers every MCP tool the same for another user’s id as for a missing one', async () => {
    const before = await bobRows();
    const sha = newSha();
    const cases: Array<[string, Kind, (id: string) => Record<string, unknown>]> = [
      ['read_messages', 'chat', (id) => ({ chatId: id })],
      ['search_messages', 'chat', (id) => ({ chatId: id, query: 'needle' })],
      ['post_message', 'chat', (id) => ({ chatId: id, text: 'hello' })],
      ['file_info', 'file', (id) => ({ fileId: id })],
      ['read_file', 'file', (id) => ({ fileId: id })],
      ['list_files', 'file', (id) => ({ cursor: id })],
      ['forget', 'memory', (id) => ({ id })],
      ['list_deployments', 'repo', (id) => ({ repoId: id })],
      ['trigger_deploy', 'repo', (id) => ({ repoId: id, sha })],
      ['trigger_deploy', 'repo', (id) => ({ repoId: id, rollback: true })],
    ];
    for (const [name, kind, args] of cases) {
      const label = `${name}(${kind})`;
      const foreign = await tool(t.server, alice.token, name, args(bobIds[kind]));
      const missing = await tool(t.server, alice.token, name, args(MISSING[kind]));
      expect(foreign.status, label).toBe(200);
      leakFree(label, foreign.text, bobIds[kind]);
      expect(
        normalize(foreign.text, bobIds[kind]),
        `${label}: Bob's id answered differently from a missing one`,
      ).toBe(normalize(missing.text, MISSING[kind]));
      // list_files with an unknown cursor may answer an empty page; every other tool refuses.
      if (name !== 'list_files') expect(foreign.result?.isError, label).toBe(true);
    }
    // Tools without ids show Alice's things only.
    for (const name of ['whoami', 'list_chats', 'list_files', 'list_repos']) {
      const r = await tool(t.server, alice.token, name, {});
      expect(r.result?.isError, `${name}: ${r.text}`).toBeFalsy();
      leakFree(name, r.text, '');
    }
    for (const query of ['', 'needle', bob.secret]) {
      const r = await tool(t.server, alice.token, 'recall', { query });
      leakFree(`recall ${query}`, r.text, query);
      const s = await tool(t.server, alice.token, 'search_messages', { query: query || 'x' });
      leakFree(`search ${query}`, s.text, query);
    }
    expect(await bobRows()).toBe(before);
    // And Bob's agent still reads his own things.
    const own = await tool(t.server, bob.token, 'read_file', { fileId: bob.fileId });
    expect(own.text).toContain(bob.secret);
  });
});
