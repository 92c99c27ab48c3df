import { beforeAll, describe, expect, it } from 'vitest';
import { createGrant } from '../../../src/crypto/grants.ts';
import type { PermissionConditions } from '../../../src/gateway/types.ts';
import { useTestServer } from '../../helpers/app.ts';
import { errorCode, gatewayKeyLine, mcpClient } from '../../helpers/gateway.ts';
import { person } from '../../helpers/people.ts';

const key = await gatewayKeyLine();

type Tool = 'list_chats' | 'read_messages' | 'search_messages' | 'post_message';
const TOOLS: Tool[] = ['list_chats', 'read_messages', 'search_messages', 'post_message'];

/** 'ok', 'hidden' (list_chats succeeds without the chat, no audit row), or the refusal code. */
type Outcome = 'ok' | 'hidden' | string;

interface Case {
  name: string;
  level?: 'denied' | 'metadata' | 'decrypt_ephemeral';
  conditions?: (now: Date) => PermissionConditions;
  grant?: 'valid' | 'none' | 'bad-signature' | 'foreign-signature' | 'expired' | 'revoked';
  target?: 'own' | 'foreign';
  limit?: number;
  expect: Record<Tool, Outcome>;
}

const FULL = { allow_write: true };
const h = new Date().getUTCHours();

const CASES: Case[] = [
  {
    name: 'granted, writable',
    level: 'decrypt_ephemeral',
    conditions: () => FULL,
    expect: { list_chats: 'ok', read_messages: 'ok', search_messages: 'ok', post_message: 'ok' },
  },
  {
    name: 'no permission row',
    level: undefined,
    expect: {
      list_chats: 'no-permission',
      read_messages: 'no-permission',
      search_messages: 'no-permission',
      post_message: 'no-permission',
    },
  },
  {
    name: 'level denied',
    level: 'denied',
    conditions: () => FULL,
    expect: {
      list_chats: 'no-permission',
      read_messages: 'no-permission',
      search_messages: 'no-permission',
      post_message: 'no-permission',
    },
  },
  {
    name: 'level metadata',
    level: 'metadata',
    conditions: () => FULL,
    expect: {
      list_chats: 'ok',
      read_messages: 'insufficient-level',
      search_messages: 'insufficient-level',
      post_message: 'insufficient-level',
    },
  },
  {
    name: 'permission expired',
    level: 'decrypt_ephemeral',
    conditions: (now) => ({ ...FULL, expires_at: new Date(now.getTime() - 60_000).toISOString() }),
    expect: {
      list_chats: 'expired',
      read_messages: 'expired',
      search_messages: 'expired',
      post_message: 'expired',
    },
  },
  {
    name: 'outside the UTC hours',
    level: 'decrypt_ephemeral',
    conditions: () => ({ ...FULL, hours: { start: (h + 1) % 24, end: (h + 2) % 24 } }),
    expect: {
      list_chats: 'outside-hours',
      read_messages: 'outside-hours',
      search_messages: 'outside-hours',
      post_message: 'outside-hours',
    },
  },
  {
    name: 'inside the UTC hours',
    level: 'decrypt_ephemeral',
    conditions: () => ({ ...FULL, hours: { start: h, end: (h + 1) % 24 } }),
    expect: { list_chats: 'ok', read_messages: 'ok', search_messages: 'ok', post_message: 'ok' },
  },
  {
    name: 'chat not in resource_ids',
    level: 'decrypt_ephemeral',
    conditions: () => ({ ...FULL, resource_ids: ['0190d5c2-0000-7000-8000-000000000099'] }),
    expect: {
      list_chats: 'hidden',
      read_messages: 'not-found',
      search_messages: 'not-found',
      post_message: 'not-found',
    },
  },
  {
    name: 'over max_items_per_call',
    level: 'decrypt_ephemeral',
    conditions: () => ({ ...FULL, max_items_per_call: 10 }),
    limit: 11,
    expect: {
      list_chats: 'ok',
      read_messages: 'over-max-items',
      search_messages: 'over-max-items',
      post_message: 'ok',
    },
  },
  {
    name: 'no grant',
    level: 'decrypt_ephemeral',
    conditions: () => FULL,
    grant: 'none',
    expect: {
      list_chats: 'ok',
      read_messages: 'no-grant',
      search_messages: 'no-grant',
      post_message: 'no-grant',
    },
  },
  {
    name: 'grant with a bad signature',
    level: 'decrypt_ephemeral',
    conditions: () => FULL,
    grant: 'bad-signature',
    expect: {
      list_chats: 'ok',
      read_messages: 'bad-grant',
      search_messages: 'bad-grant',
      post_message: 'bad-grant',
    },
  },
  {
    name: 'grant signed by someone else',
    level: 'decrypt_ephemeral',
    conditions: () => FULL,
    grant: 'foreign-signature',
    expect: {
      list_chats: 'ok',
      read_messages: 'bad-grant',
      search_messages: 'bad-grant',
      post_message: 'bad-grant',
    },
  },
  {
    name: 'revoked grant',
    level: 'decrypt_ephemeral',
    conditions: () => FULL,
    grant: 'revoked',
    expect: {
      list_chats: 'ok',
      read_messages: 'no-grant',
      search_messages: 'no-grant',
      post_message: 'no-grant',
    },
  },
  {
    name: 'grant expired (signed by the owner with an expiry now past)',
    level: 'decrypt_ephemeral',
    conditions: () => FULL,
    grant: 'expired',
    expect: {
      list_chats: 'ok',
      read_messages: 'grant-expired',
      search_messages: 'grant-expired',
      post_message: 'grant-expired',
    },
  },
  {
    name: 'allow_write off',
    level: 'decrypt_ephemeral',
    conditions: () => ({}),
    expect: {
      list_chats: 'ok',
      read_messages: 'ok',
      search_messages: 'ok',
      post_message: 'write-not-allowed',
    },
  },
  {
    name: 'another user’s chat',
    level: 'decrypt_ephemeral',
    conditions: () => FULL,
    target: 'foreign',
    expect: {
      list_chats: 'ok',
      read_messages: 'not-found',
      search_messages: 'not-found',
      post_message: 'not-found',
    },
  },
];

describe('the permission matrix: tool × level × conditions × grant', () => {
  const t = useTestServer({ VUTLER_GATEWAY_KEY: key });
  let alice: Awaited<ReturnType<typeof person>>;
  let bob: Awaited<ReturnType<typeof person>>;
  let own: string;
  let foreign: string;

  beforeAll(async () => {
    [alice, bob] = await Promise.all([person(t.server.url, 'alice'), person(t.server.url, 'bob')]);
    const dave = await person(t.server.url, 'dave');
    own = (await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] })).id;
    foreign = (await bob.client.chats.create({ kind: 'direct', memberIds: [dave.id] })).id;
    await alice.client.chats.send(own, 'matrix needle one');
    await bob.client.chats.send(own, 'matrix needle two');
    await bob.client.chats.send(foreign, 'matrix needle foreign');
  });

  async function setUp(c: Case, agentName: string) {
    const { token } = await alice.client.createAgentToken({ agentName });
    if (c.level) {
      await alice.client.agents.setPermission({
        agentName,
        resourceType: 'chat',
        accessLevel: c.level,
        conditions: c.conditions?.(new Date()) ?? {},
      });
    }
    const grant = c.grant ?? 'valid';
    if (grant === 'none') return token;
    const g = await alice.client.agents.grantChat(own, agentName, { scope: 'all_history' });
    if (grant === 'bad-signature') {
      await t.db.pool.query(
        `UPDATE agent_key_grants
         SET envelope = set_byte(envelope, length(envelope) - 1, get_byte(envelope, length(envelope) - 1) # 1)
         WHERE grant_id = $1`,
        [g.grantId],
      );
    } else if (grant === 'foreign-signature') {
      // Bob signs a grant naming Alice as owner, holding the real chat key; written straight to
      // the table (the API would refuse it). The gateway must check Alice's pinned key.
      const chatKey = await bob.client.chats.key(own, 0);
      const gw = await alice.client.agents.gateway();
      const forged = await createGrant({
        userId: alice.id,
        agentId: agentName,
        subject: { resourceType: 'chat', chatKey },
        terms: { grantId: g.grantId, accessLevel: 'decrypt_ephemeral', expiresAt: null },
        gatewayX25519PublicKey: gw.x25519PublicKey,
        ownerSigningKey: bob.client.identity!.ed25519.privateKey,
      });
      await t.db.pool.query('UPDATE agent_key_grants SET envelope = $2 WHERE grant_id = $1', [
        g.grantId,
        Buffer.from(forged.envelope),
      ]);
    } else if (grant === 'expired') {
      // Alice's own signatures over an expiry already past, one per epoch row of the grant (the
      // API refuses a past expiry, so the rows are written straight to the table, their column
      // and their signed terms alike).
      const gw = await alice.client.agents.gateway();
      const expiresAt = Date.now() - 60_000;
      const { rows } = await t.db.pool.query<{ epoch: number }>(
        'SELECT epoch FROM agent_key_grants WHERE grant_id = $1',
        [g.grantId],
      );
      for (const { epoch } of rows) {
        const signed = await createGrant({
          userId: alice.id,
          agentId: agentName,
          subject: { resourceType: 'chat', chatKey: await alice.client.chats.key(own, epoch) },
          terms: { grantId: g.grantId, accessLevel: 'decrypt_ephemeral', expiresAt },
          gatewayX25519PublicKey: gw.x25519PublicKey,
          ownerSigningKey: alice.client.identity!.ed25519.privateKey,
        });
        await t.db.pool.query(
          'UPDATE agent_key_grants SET envelope = $3, expires_at = $4 WHERE grant_id = $1 AND epoch = $2',
          [g.grantId, epoch, Buffer.from(signed.envelope), new Date(expiresAt)],
        );
      }
    } else if (grant === 'revoked') {
      await alice.client.agents.revokeGrant(g.grantId);
    }
    return token;
  }

  async function call(
    mcp: Awaited<ReturnType<typeof mcpClient>>,
    tool: Tool,
    chatId: string,
    limit?: number,
  ) {
    switch (tool) {
      case 'list_chats':
        return mcp.callTool({ name: tool, arguments: {} });
      case 'read_messages':
        return mcp.callTool({ name: tool, arguments: { chatId, ...(limit ? { limit } : {}) } });
      case 'search_messages':
        return mcp.callTool({
          name: tool,
          arguments: { chatId, query: 'needle', ...(limit ? { limit } : {}) },
        });
      case 'post_message':
        return mcp.callTool({ name: tool, arguments: { chatId, text: 'from the matrix' } });
    }
  }

  CASES.forEach((c, i) => {
    it(`${c.name}: results and audit rows`, async () => {
      const agentName = `m${i}-agent`;
      const token = await setUp(c, agentName);
      const chatId = c.target === 'foreign' ? foreign : own;
      const mcp = await mcpClient(t.server.url, token);
      for (const tool of TOOLS) {
        const before = (
          await t.db.pool.query('SELECT count(*)::int AS n FROM decryption_audit_log')
        ).rows[0].n;
        const r = await call(mcp, tool, chatId, c.limit);
        const want = c.expect[tool];
        const rows = (
          await t.db.pool.query(
            `SELECT tool_name, outcome, reason, resource_id, decryption_success FROM decryption_audit_log
             WHERE agent_name = $1 AND tool_name = $2`,
            [agentName, tool],
          )
        ).rows;
        const label = `${c.name} / ${tool}`;
        if (want === 'ok' || want === 'hidden') {
          expect(r.isError, `${label}: ${JSON.stringify(r.content)}`).toBeFalsy();
          if (tool === 'list_chats') {
            const ids = (r.structuredContent as { chats: { id: string }[] }).chats.map((x) => x.id);
            expect(ids, label).toEqual(want === 'hidden' ? [] : [own]);
            expect(rows, label).toEqual(
              want === 'hidden'
                ? []
                : [expect.objectContaining({ outcome: 'allowed', resource_id: own })],
            );
          } else {
            expect(rows, label).toEqual([
              expect.objectContaining({
                outcome: 'allowed',
                resource_id: chatId,
                reason: tool === 'post_message' ? 'write' : null,
                decryption_success: tool !== 'post_message',
              }),
            ]);
          }
          if (tool === 'read_messages') {
            const texts = (r.structuredContent as { messages: { text?: string }[] }).messages.map(
              (m) => m.text,
            );
            expect(texts.slice(0, 2), label).toEqual(['matrix needle one', 'matrix needle two']);
          }
        } else {
          expect(r.isError, label).toBe(true);
          expect(errorCode(r), label).toBe(want);
          expect(JSON.stringify(r), label).not.toContain('matrix needle');
          if (tool === 'list_chats') {
            // A refused listing touched no resource: nothing to audit.
            expect(rows, label).toEqual([]);
          } else {
            expect(rows, label).toEqual([
              expect.objectContaining({
                outcome: 'denied',
                reason: want,
                resource_id: chatId,
                decryption_success: false,
              }),
            ]);
          }
        }
        const after = (await t.db.pool.query('SELECT count(*)::int AS n FROM decryption_audit_log'))
          .rows[0].n;
        expect(after - before, label).toBe(rows.length);
      }
      await mcp.close();
    });
  });
});
