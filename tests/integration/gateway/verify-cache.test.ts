import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { sealMessage } from '../../../src/crypto/messages.ts';
import { verifyCacheStats } from '../../../src/node-crypto.ts';
import { useTestServer } from '../../helpers/app.ts';
import { errorCode, gatewayKeyLine, mcpClient } from '../../helpers/gateway.ts';
import { person } from '../../helpers/people.ts';

/**
 * The server remembers Ed25519 signatures it verified (src/node-crypto.ts). These tests verify a
 * message, a grant and a pin once (so the cache holds them), then change the stored row in ways
 * that keep the stored signature as it was — the edits a cache keyed on anything less than the
 * exact signed bytes would pass — and expect the gateway to refuse each one, then to accept the
 * untouched row again (from the cache).
 */
const key = await gatewayKeyLine();

interface Msg {
  id: string;
  status: string;
  text?: string;
}

function messagesOf(r: unknown): Msg[] {
  const res = r as CallToolResult;
  expect(res.isError, JSON.stringify(res.content)).toBeFalsy();
  return (res.structuredContent as { messages: Msg[] }).messages;
}

async function scenario(url: string) {
  const alice = await person(url, 'alice');
  const bob = await person(url, 'bob');
  const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
  await bob.client.chats.send(chat.id, 'first secret');
  await alice.client.chats.send(chat.id, 'second secret');
  const { token } = await alice.client.createAgentToken({ agentName: 'claude' });
  await alice.client.agents.setPermission({
    agentName: 'claude',
    resourceType: 'chat',
    accessLevel: 'decrypt_ephemeral',
  });
  const grant = await alice.client.agents.grantChat(chat.id, 'claude');
  return { alice, bob, chat, token, grant };
}

describe('the verification cache never turns a changed row into a pass', () => {
  const t = useTestServer({ VUTLER_GATEWAY_KEY: key });
  const q = (sql: string, params: unknown[]) => t.db.pool.query(sql, params);

  it('refuses a message whose signed header was edited after the message was verified once', async () => {
    const s = await scenario(t.server.url);
    const mcp = await mcpClient(t.server.url, s.token);
    const read = () => mcp.callTool({ name: 'read_messages', arguments: { chatId: s.chat.id } });
    const first = messagesOf(await read());
    expect(first.map((m) => m.status)).toEqual(['ok', 'ok']);
    const target = first[0]!;
    const before = verifyCacheStats();
    expect(messagesOf(await read()).map((m) => m.status)).toEqual(['ok', 'ok']);
    // The second read was answered from the cache: the test exercises it.
    expect(verifyCacheStats().hits).toBeGreaterThan(before.hits);

    // Mentions, the chain position and the policy are signed but not in the AEAD's AAD: only
    // the signature notices these edits, so only a cache keyed on the exact bytes refuses them.
    const row = (
      await q('SELECT mentions, chain_counter, chain_prev FROM messages WHERE id = $1', [target.id])
    ).rows[0] as { mentions: string[]; chain_counter: string; chain_prev: Buffer };
    const edits: [string, unknown[]][] = [
      ['UPDATE messages SET mentions = $2 WHERE id = $1', [target.id, ['claude']]],
      [
        'UPDATE messages SET chain_counter = chain_counter + 1, chain_prev = $2 WHERE id = $1',
        [target.id, Buffer.alloc(32, 7)],
      ],
      [
        `UPDATE messages SET decryption_permissions = '{"agents":"allow"}'::jsonb WHERE id = $1`,
        [target.id],
      ],
    ];
    for (const [sql, params] of edits) {
      await q(sql, params);
      const after = messagesOf(await read());
      expect(
        after.find((m) => m.id === target.id),
        sql,
      ).toMatchObject({ status: 'rejected' });
      expect(after.find((m) => m.id === target.id)?.text, sql).toBeUndefined();
      expect(after.find((m) => m.id !== target.id)?.status).toBe('ok');
      await q(
        `UPDATE messages SET mentions = $2, chain_counter = $3, chain_prev = $4,
           decryption_permissions = '{}'::jsonb WHERE id = $1`,
        [target.id, row.mentions, row.chain_counter, row.chain_prev],
      );
      // Restored byte for byte: it reads again.
      expect(messagesOf(await read()).map((m) => m.status)).toEqual(['ok', 'ok']);
    }

    // Another message's (valid, cached) signature on this message: refused too.
    const other = (await q('SELECT signature FROM messages WHERE id = $1', [first[1]!.id]))
      .rows[0] as { signature: Buffer };
    const own = (await q('SELECT signature FROM messages WHERE id = $1', [target.id])).rows[0] as {
      signature: Buffer;
    };
    await q('UPDATE messages SET signature = $2 WHERE id = $1', [target.id, other.signature]);
    expect(messagesOf(await read()).find((m) => m.id === target.id)?.status).toBe('rejected');
    await q('UPDATE messages SET signature = $2 WHERE id = $1', [target.id, own.signature]);
    expect(messagesOf(await read()).map((m) => m.status)).toEqual(['ok', 'ok']);
    await mcp.close();
    // A dozen calls: more than the default 30 s on a loaded two-core machine.
  }, 120_000);

  it('refuses a grant row edited after it was verified once', async () => {
    const s = await scenario(t.server.url);
    const mcp = await mcpClient(t.server.url, s.token);
    const read = () => mcp.callTool({ name: 'read_messages', arguments: { chatId: s.chat.id } });
    messagesOf(await read());
    messagesOf(await read());
    const row = (
      await q('SELECT envelope, expires_at FROM agent_key_grants WHERE grant_id = $1', [
        s.grant.grantId,
      ])
    ).rows[0] as { envelope: Buffer; expires_at: Date | null };

    // The signed context: an expiry the owner did not sign.
    await q('UPDATE agent_key_grants SET expires_at = $2 WHERE grant_id = $1', [
      s.grant.grantId,
      new Date(Date.now() + 86_400_000),
    ]);
    expect(errorCode(await read())).toBe('bad-grant');
    await q('UPDATE agent_key_grants SET expires_at = $2 WHERE grant_id = $1', [
      s.grant.grantId,
      row.expires_at,
    ]);
    messagesOf(await read());

    // The wrapped key itself, signature left as it was.
    const flipped = Buffer.from(row.envelope);
    flipped[40] = flipped[40]! ^ 1;
    await q('UPDATE agent_key_grants SET envelope = $2 WHERE grant_id = $1', [
      s.grant.grantId,
      flipped,
    ]);
    expect(errorCode(await read())).toBe('bad-grant');
    await q('UPDATE agent_key_grants SET envelope = $2 WHERE grant_id = $1', [
      s.grant.grantId,
      row.envelope,
    ]);
    messagesOf(await read());
    await mcp.close();
  });

  it('refuses a pin row edited after it was verified once: the pinned key stays the one signed', async () => {
    const s = await scenario(t.server.url);
    const mcp = await mcpClient(t.server.url, s.token);
    const read = () => mcp.callTool({ name: 'read_messages', arguments: { chatId: s.chat.id } });
    const first = messagesOf(await read());
    messagesOf(await read());
    const pin = (
      await q('SELECT ed25519_public FROM gateway_identity_pins WHERE user_id = $1', [s.bob.id])
    ).rows[0] as { ed25519_public: Buffer };
    const ownerPin = (
      await q('SELECT ed25519_public FROM gateway_identity_pins WHERE user_id = $1', [s.alice.id])
    ).rows[0] as { ed25519_public: Buffer };

    // Alice (a member: she holds the chat key) rewrites Bob's message in his name, signs it
    // with her own key, and puts her key into Bob's pin, leaving his (cached) pin signature.
    const bobsId = first[0]!.id;
    const orig = (
      await q(
        'SELECT encrypted_content, signature, chain_id, chain_counter, chain_prev FROM messages WHERE id = $1',
        [bobsId],
      )
    ).rows[0] as {
      encrypted_content: Buffer;
      signature: Buffer;
      chain_id: Buffer;
      chain_counter: string;
      chain_prev: Buffer;
    };
    const forged = await sealMessage({
      chatKey: await s.alice.client.chats.key(s.chat.id, 0),
      header: {
        messageId: bobsId,
        sender: { kind: 'user', userId: s.bob.id },
        chain: {
          chainId: orig.chain_id,
          counter: Number(orig.chain_counter),
          prev: orig.chain_prev,
        },
        mentions: [],
        decryptionPermissions: {},
      },
      body: { text: 'forged in bob’s name', replyTo: null, attachments: [] },
      signingKey: s.alice.client.identity!.ed25519.privateKey,
    });
    await q('UPDATE messages SET encrypted_content = $2, signature = $3 WHERE id = $1', [
      bobsId,
      Buffer.from(forged.encryptedContent),
      Buffer.from(forged.signature),
    ]);
    await q('UPDATE gateway_identity_pins SET ed25519_public = $2 WHERE user_id = $1', [
      s.bob.id,
      ownerPin.ed25519_public,
    ]);
    const after = messagesOf(await read());
    expect(after.map((m) => m.status)).toEqual(['rejected', 'ok']);
    expect(after[0]?.text).toBeUndefined();
    await q('UPDATE gateway_identity_pins SET ed25519_public = $2 WHERE user_id = $1', [
      s.bob.id,
      pin.ed25519_public,
    ]);
    await q('UPDATE messages SET encrypted_content = $2, signature = $3 WHERE id = $1', [
      bobsId,
      orig.encrypted_content,
      orig.signature,
    ]);
    expect(messagesOf(await read()).map((m) => m.status)).toEqual(['ok', 'ok']);

    // The owner's pin, which grants are checked against: another user's pinned key in its place.
    await q('UPDATE gateway_identity_pins SET ed25519_public = $2 WHERE user_id = $1', [
      s.alice.id,
      pin.ed25519_public,
    ]);
    expect(errorCode(await read())).toBe('bad-grant');
    await q('UPDATE gateway_identity_pins SET ed25519_public = $2 WHERE user_id = $1', [
      s.alice.id,
      ownerPin.ed25519_public,
    ]);
    messagesOf(await read());
    await mcp.close();
  });
});
