import { describe, expect, it } from 'vitest';
import { VutlerClient } from '../../../src/client/index.ts';
import { base64Encode } from '../../../src/crypto/bytes.ts';
import { generateChatKey } from '../../../src/crypto/chatkeys.ts';
import {
  createGrant,
  gatewayPublicKeysToJson,
  generateGatewayKeys,
} from '../../../src/crypto/grants.ts';
import { generateKeyPairsRaw } from '../../../src/crypto/identity.ts';
import { sealMessage } from '../../../src/crypto/messages.ts';
import { ChatToolsService } from '../../../src/gateway/chat-tools.service.ts';
import { Gateway } from '../../../src/gateway/gateway.module.ts';
import { silentLogger, testConfig, useTestServer } from '../../helpers/app.ts';
import { errorCode, gatewayKeyLine, mcpClient } from '../../helpers/gateway.ts';
import { person } from '../../helpers/people.ts';

const key = await gatewayKeyLine();

async function scenario(url: string, agentName = 'claude') {
  const alice = await person(url, 'alice');
  const bob = await person(url, 'bob');
  const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
  await bob.client.chats.send(chat.id, 'secret plans');
  const { token } = await alice.client.createAgentToken({ agentName });
  await alice.client.agents.setPermission({
    agentName,
    resourceType: 'chat',
    accessLevel: 'decrypt_ephemeral',
    conditions: { allow_write: true },
  });
  const grant = await alice.client.agents.grantChat(chat.id, agentName);
  return { alice, bob, chat, token, grant };
}

describe('what a database writer cannot make the gateway do', () => {
  const t = useTestServer({ VUTLER_GATEWAY_KEY: key });

  it('accepts no grant signed by a key swapped into users: it checks the key it pinned', async () => {
    const s = await scenario(t.server.url);
    const mcp = await mcpClient(t.server.url, s.token);
    expect(
      (await mcp.callTool({ name: 'read_messages', arguments: { chatId: s.chat.id } })).isError,
    ).toBeFalsy();

    // The attacker owns a key pair, puts its public key on Alice's account, and replaces the
    // grant with one it signed, wrapping a chat key it knows (so replies would be readable to it).
    const mallory = await generateKeyPairsRaw();
    await t.db.pool.query('UPDATE users SET identity_signing_key = $2 WHERE id = $1', [
      s.alice.id,
      Buffer.from(mallory.raw.ed25519Public),
    ]);
    const known = await generateChatKey(s.chat.id, 0);
    const gw = await s.alice.client.agents.gateway();
    const forged = await createGrant({
      userId: s.alice.id,
      agentId: 'claude',
      subject: { resourceType: 'chat', chatKey: known },
      terms: { grantId: s.grant.grantId, accessLevel: 'decrypt_ephemeral', expiresAt: null },
      gatewayX25519PublicKey: gw.x25519PublicKey,
      ownerSigningKey: mallory.keys.ed25519.privateKey,
    });
    await t.db.pool.query('UPDATE agent_key_grants SET envelope = $2 WHERE grant_id = $1', [
      s.grant.grantId,
      Buffer.from(forged.envelope),
    ]);
    const read = await mcp.callTool({ name: 'read_messages', arguments: { chatId: s.chat.id } });
    expect(errorCode(read)).toBe('bad-grant');
    const post = await mcp.callTool({
      name: 'post_message',
      arguments: { chatId: s.chat.id, text: 'x' },
    });
    expect(errorCode(post)).toBe('bad-grant');

    // Rewriting the pin itself does not help: only the gateway's key signs pins.
    await t.db.pool.query(
      'UPDATE gateway_identity_pins SET ed25519_public = $2 WHERE user_id = $1',
      [s.alice.id, Buffer.from(mallory.raw.ed25519Public)],
    );
    expect(
      errorCode(await mcp.callTool({ name: 'read_messages', arguments: { chatId: s.chat.id } })),
    ).toBe('bad-grant');
    const rows = (
      await t.db.pool.query(
        `SELECT count(*)::int AS n FROM messages WHERE chat_id = $1 AND sender_agent IS NOT NULL`,
        [s.chat.id],
      )
    ).rows[0].n;
    expect(rows).toBe(0);
    await mcp.close();
  });

  it('makes an agent message that members reject when signed by any key but the pinned gateway key', async () => {
    const s = await scenario(t.server.url);
    const mcp = await mcpClient(t.server.url, s.token);
    const posted = await mcp.callTool({
      name: 'post_message',
      arguments: { chatId: s.chat.id, text: 'agent reply' },
    });
    const { messageId } = posted.structuredContent as { messageId: string };
    await s.bob.client.agents.gateway(); // pins the gateway key on Bob's device
    const ok = (await s.bob.client.chats.history(s.chat.id)).find((m) => m.id === messageId);
    expect(ok).toMatchObject({ status: 'ok', senderId: s.alice.id, body: { text: 'agent reply' } });

    // A client that pinned another gateway key refuses the message (and the gateway itself).
    const other = await generateGatewayKeys();
    const wary = new VutlerClient({ baseUrl: t.server.url, allowWeakKdf: true });
    await wary.login({ email: s.bob.email, passphrase: s.bob.passphrase });
    await wary.device().setGatewayKeys(gatewayPublicKeysToJson(other.keys));
    await expect(wary.agents.gateway()).rejects.toMatchObject({ code: 'gateway-key-changed' });
    const seen = (await wary.chats.history(s.chat.id)).find((m) => m.id === messageId);
    expect(seen?.status).toBe('rejected');
    expect(seen?.body).toBeUndefined();

    // Re-signed by Bob (a member, who holds the chat key) as if it were the agent's: rejected.
    const chatKey = await s.bob.client.chats.key(s.chat.id, 0);
    const row = (
      await t.db.pool.query(
        'SELECT chain_id, chain_counter, chain_prev FROM messages WHERE id = $1',
        [messageId],
      )
    ).rows[0];
    const resealed = await sealMessage({
      chatKey,
      header: {
        messageId,
        sender: { kind: 'agent', agentName: 'claude', onBehalfOf: s.alice.id },
        chain: { chainId: row.chain_id, counter: Number(row.chain_counter), prev: row.chain_prev },
        mentions: [],
        decryptionPermissions: {},
      },
      body: { text: 'forged agent reply', replyTo: null, attachments: [] },
      signingKey: s.bob.client.identity!.ed25519.privateKey,
    });
    await t.db.pool.query(
      'UPDATE messages SET encrypted_content = $2, signature = $3 WHERE id = $1',
      [messageId, Buffer.from(resealed.encryptedContent), Buffer.from(resealed.signature)],
    );
    const forged = (await s.bob.client.chats.history(s.chat.id)).find((m) => m.id === messageId);
    expect(forged?.status).toBe('rejected');
    expect(forged?.body).toBeUndefined();
    await mcp.close();
  });

  it('never decrypts a message its sender marked {"agents":"deny"}, and reads the rest', async () => {
    const s = await scenario(t.server.url);
    await s.bob.client.chats.send(s.chat.id, 'deny canary', {
      decryptionPermissions: { agents: 'deny' },
    });
    await s.bob.client.chats.send(s.chat.id, 'allowed again', {
      decryptionPermissions: { agents: 'allow' },
    });
    const mcp = await mcpClient(t.server.url, s.token);
    const read = await mcp.callTool({ name: 'read_messages', arguments: { chatId: s.chat.id } });
    const msgs = (read.structuredContent as { messages: { status: string; text?: string }[] })
      .messages;
    expect(msgs.map((m) => [m.status, m.text])).toEqual([
      ['ok', 'secret plans'],
      ['withheld', undefined],
      ['ok', 'allowed again'],
    ]);
    expect(JSON.stringify(read)).not.toMatch(/deny canary/);
    const search = await mcp.callTool({ name: 'search_messages', arguments: { query: 'canary' } });
    expect((search.structuredContent as { matches: unknown[] }).matches).toEqual([]);
    await mcp.close();
  });

  it('keeps working across rotations only for epochs the owner wrapped, and says so', async () => {
    const s = await scenario(t.server.url);
    await s.bob.client.chats.rotate(s.chat.id);
    await s.bob.client.chats.send(s.chat.id, 'after rotation');
    const mcp = await mcpClient(t.server.url, s.token);
    const read = await mcp.callTool({ name: 'read_messages', arguments: { chatId: s.chat.id } });
    const msgs = (read.structuredContent as { messages: { status: string; text?: string }[] })
      .messages;
    expect(msgs.map((m) => m.status)).toEqual(['ok', 'no-key']);
    const post = await mcp.callTool({
      name: 'post_message',
      arguments: { chatId: s.chat.id, text: 'hi' },
    });
    expect(errorCode(post)).toBe('no-grant');
    await s.alice.client.agents.extendGrant(s.grant);
    const again = await mcp.callTool({ name: 'read_messages', arguments: { chatId: s.chat.id } });
    expect(
      (again.structuredContent as { messages: { text?: string }[] }).messages.map((m) => m.text),
    ).toEqual(['secret plans', 'after rotation']);
    await mcp.close();
  });

  it('refuses grants the owner did not sign, and revocation rotates the chat', async () => {
    const s = await scenario(t.server.url);
    const gw = await s.bob.client.agents.gateway();
    const chatKey = await s.bob.client.chats.key(s.chat.id, 0);
    const grantId = globalThis.crypto.randomUUID();
    const byBob = await createGrant({
      userId: s.alice.id,
      agentId: 'claude',
      subject: { resourceType: 'chat', chatKey },
      terms: { grantId, accessLevel: 'decrypt_ephemeral', expiresAt: null },
      gatewayX25519PublicKey: gw.x25519PublicKey,
      ownerSigningKey: s.bob.client.identity!.ed25519.privateKey,
    });
    const res = await s.alice.client.http
      .request('/api/agents/grants', {
        body: {
          grantId,
          agentName: 'claude',
          resourceType: 'chat',
          resourceId: s.chat.id,
          scope: 'from_now_on',
          expiresAt: null,
          wraps: [{ epoch: 0, envelope: base64Encode(byBob.envelope) }],
        },
      })
      .catch((e: { status: number; type: string }) => e);
    expect(res).toMatchObject({ status: 400, type: 'bad-signature' });

    await s.alice.client.agents.setPermission({
      agentName: 'helper',
      resourceType: 'chat',
      accessLevel: 'decrypt_ephemeral',
    });
    await s.alice.client.agents.grantChat(s.chat.id, 'helper');
    const helper = await s.alice.client.createAgentToken({ agentName: 'helper' });
    const before = (await s.alice.client.chats.get(s.chat.id)).currentEpoch;
    await s.alice.client.agents.revokeGrant(s.grant.grantId);
    expect((await s.alice.client.chats.get(s.chat.id)).currentEpoch).toBe(before + 1);
    expect(await s.alice.client.agents.grants('claude')).toEqual([]);
    // The other agent keeps its access, now including the new epoch.
    expect((await s.alice.client.agents.grants('helper'))[0]?.epochs).toEqual([before, before + 1]);
    await s.bob.client.chats.send(s.chat.id, 'after revocation');
    const claude = await mcpClient(t.server.url, s.token);
    expect(
      errorCode(await claude.callTool({ name: 'read_messages', arguments: { chatId: s.chat.id } })),
    ).toBe('no-grant');
    await claude.close();
    const h = await mcpClient(t.server.url, helper.token);
    const read = await h.callTool({ name: 'read_messages', arguments: { chatId: s.chat.id } });
    expect(
      (read.structuredContent as { messages: { text?: string }[] }).messages.map((m) => m.text),
    ).toEqual(['secret plans', 'after revocation']);
    await h.close();
  });
});

describe('rate limits', () => {
  const t = useTestServer({ VUTLER_GATEWAY_KEY: key, VUTLER_GATEWAY_RATE_TOOL: '2/60' });

  it('refuses the call over the bucket with a retry hint, decrypting nothing and auditing nothing', async () => {
    const s = await scenario(t.server.url);
    const mcp = await mcpClient(t.server.url, s.token);
    const call = () => mcp.callTool({ name: 'read_messages', arguments: { chatId: s.chat.id } });
    expect((await call()).isError).toBeFalsy();
    expect((await call()).isError).toBeFalsy();
    const third = await call();
    expect(errorCode(third)).toBe('rate-limited');
    expect(
      (third._meta as Record<string, { retryAfterSeconds: number }>)['vutler/error']
        ?.retryAfterSeconds,
    ).toBeGreaterThan(0);
    expect(JSON.stringify(third)).not.toContain('secret plans');
    // Another tool has its own bucket.
    expect((await mcp.callTool({ name: 'list_chats', arguments: {} })).isError).toBeFalsy();
    const rows = await t.db.pool.query(
      `SELECT count(*)::int AS n FROM decryption_audit_log WHERE tool_name = 'read_messages' AND user_id = $1`,
      [s.alice.id],
    );
    expect(rows.rows[0].n).toBe(2);
    await mcp.close();
  });
});

describe(ChatToolsService.name, () => {
  const t = useTestServer({ VUTLER_GATEWAY_KEY: key });

  it('posts nothing and says retry when the chat rotates between the check and the insert', async () => {
    const s = await scenario(t.server.url);
    const chats = t.server.vutler.services.chats;
    const racing = new Gateway({
      config: testConfig({ VUTLER_GATEWAY_KEY: key }),
      logger: silentLogger,
      pool: t.db.pool,
      redis: t.redis,
      loadKeys: () => t.server.vutler.services.gateway.keyed().then((k) => k.keys),
      files: t.server.vutler.services.files,
      poster: {
        postAsAgent: async (...a) => {
          await s.bob.client.chats.rotate(s.chat.id);
          return chats.postAsAgent(...a);
        },
      },
    });
    const service = (await racing.keyed()).parts.chats;
    const caller = { tokenId: 'bench', userId: s.alice.id, agentName: 'claude' };
    const meta = { toolName: 'post_message', requestId: 'r1', ip: null, userAgent: null };
    await expect(
      service.postMessage(caller, meta, { chatId: s.chat.id, text: 'late' }),
    ).rejects.toMatchObject({
      code: 'stale-epoch',
    });
    const agentMessages = await t.db.pool.query(
      'SELECT count(*)::int AS n FROM messages WHERE chat_id = $1 AND sender_agent IS NOT NULL',
      [s.chat.id],
    );
    expect(agentMessages.rows[0].n).toBe(0);
  });
});

describe('message senders as the gateway pinned them', () => {
  const t = useTestServer({ VUTLER_GATEWAY_KEY: key });

  it('rejects a message a member forged in another member’s name after swapping their key', async () => {
    const alice = await person(t.server.url, 'alice');
    const bob = await person(t.server.url, 'bob');
    const carol = await person(t.server.url, 'carol');
    const chat = await alice.client.chats.create({ kind: 'group', memberIds: [bob.id, carol.id] });
    await bob.client.chats.send(chat.id, 'the real bob');
    const { token } = await alice.client.createAgentToken({ agentName: 'claude' });
    await alice.client.agents.setPermission({
      agentName: 'claude',
      resourceType: 'chat',
      accessLevel: 'decrypt_ephemeral',
    });
    await alice.client.agents.grantChat(chat.id, 'claude');
    const mcp = await mcpClient(t.server.url, token);
    const texts = async () =>
      (
        (await mcp.callTool({ name: 'read_messages', arguments: { chatId: chat.id } }))
          .structuredContent as { messages: { status: string; text?: string }[] }
      ).messages.map((m) => [m.status, m.text]);
    expect(await texts()).toEqual([['ok', 'the real bob']]);

    const view = await bob.client.chats.send(chat.id, 'placeholder');
    // Carol holds the chat key; with database access she makes herself "bob" and writes as him.
    await t.db.pool.query('UPDATE users SET identity_signing_key = $2 WHERE id = $1', [
      bob.id,
      Buffer.from(carol.client.identityPublic!.ed25519PublicKey),
    ]);
    const chatKey = await carol.client.chats.key(chat.id, 0);
    const row = (
      await t.db.pool.query(
        'SELECT chain_id, chain_counter, chain_prev FROM messages WHERE id = $1',
        [view.id],
      )
    ).rows[0];
    const forged = await sealMessage({
      chatKey,
      header: {
        messageId: view.id,
        sender: { kind: 'user', userId: bob.id },
        chain: { chainId: row.chain_id, counter: Number(row.chain_counter), prev: row.chain_prev },
        mentions: [],
        decryptionPermissions: {},
      },
      body: { text: 'bob says: wire the money', replyTo: null, attachments: [] },
      signingKey: carol.client.identity!.ed25519.privateKey,
    });
    await t.db.pool.query(
      'UPDATE messages SET encrypted_content = $2, signature = $3 WHERE id = $1',
      [view.id, Buffer.from(forged.encryptedContent), Buffer.from(forged.signature)],
    );
    expect(await texts()).toEqual([
      ['ok', 'the real bob'],
      ['rejected', undefined],
    ]);
    await mcp.close();
  });
});
