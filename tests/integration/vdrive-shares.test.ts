import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../src/client/chat.ts';
import { downloadShareToFile } from '../../src/client/drive-node.ts';
import {
  type LiveEvent,
  readAllBytes,
  textPreview,
  VutlerClientError,
} from '../../src/client/index.ts';
import { base64Decode, base64Encode } from '../../src/crypto/bytes.ts';
import { generateFileKey } from '../../src/crypto/files.ts';
import { decryptFileBytes } from '../../src/crypto/filestream.ts';
import { CHAIN_ID_BYTES, MESSAGE_HASH_BYTES } from '../../src/crypto/messages.ts';
import { createShare, openShare } from '../../src/crypto/shares.ts';
import { useTestServer } from '../helpers/app.ts';
import { personWith, vdriveEnv } from '../helpers/vdrive.ts';
import { until } from '../helpers/wait.ts';

const env = vdriveEnv();
afterAll(() => env.cleanup());

describe('VDrive shares into chats', () => {
  const t = useTestServer(env.overrides);

  async function trio() {
    const [alice, bob, carol] = await Promise.all(
      ['alice', 'bob', 'carol'].map((n) => personWith(t.server.url, n)),
    );
    const chat = await alice!.client.chats.create({
      kind: 'group',
      memberIds: [bob!.id, carol!.id],
    });
    const text = 'line one of the report\nline two\nline three';
    const content = new TextEncoder().encode(`${text}\n${randomBytes(3000).toString('hex')}`);
    const file = await alice!.client.drive.upload(new Blob([content]), {
      name: 'report.txt',
      type: 'text/plain',
      chunkSize: 1024,
      preview: textPreview(text, 2),
    });
    return { alice: alice!, bob: bob!, carol: carol!, chat, file, content };
  }

  async function cardFor(
    client: Awaited<ReturnType<typeof personWith>>['client'],
    chatId: string,
    shareId: string,
  ) {
    const history = await client.chats.history(chatId);
    const card = history.find((m) => m.body?.attachments.some((a) => a.shareId === shareId));
    if (!card) throw new Error('no file card');
    return card;
  }

  it('a download share: the card reaches members live, they open name, preview and content', async () => {
    const { alice, bob, chat, file, content } = await trio();
    const events: LiveEvent[] = [];
    const live = await bob.client.live({ onEvent: (e) => events.push(e) });
    try {
      const { share, messageId } = await alice.client.drive.share(file.id, chat.id, {
        mode: 'download',
      });
      await until(
        () => events.some((e) => e.type === 'message' && e.message.id === messageId),
        'the file card',
      );
      const card = (
        events.find((e) => e.type === 'message' && e.message.id === messageId) as {
          message: ChatMessage;
        }
      ).message;
      expect(card.status).toBe('ok');
      expect(card.body?.attachments).toEqual([{ fileId: file.id, shareId: share.id }]);
      const opened = await bob.client.drive.openShare(share.id, card);
      expect(opened.mode).toBe('download');
      expect(opened.meta).toMatchObject({
        name: 'report.txt',
        type: 'text/plain',
        size: content.length,
      });
      expect(new TextDecoder().decode((await opened.preview())!)).toBe(
        'line one of the report\nline two',
      );
      expect(
        Buffer.from(await readAllBytes(await opened.download())).equals(Buffer.from(content)),
      ).toBe(true);
      const target = path.join(env.dir, `bob-${share.id}.txt`);
      await downloadShareToFile(bob.client.drive, share.id, target);
      expect((await readFile(target)).equals(Buffer.from(content))).toBe(true);
      // One transaction stored the share, its wrap and the card.
      const { rows } = await t.db.pool.query(
        `SELECT s.message_id, k.key_type, k.chat_id FROM vdrive_chat_shares s
         JOIN encryption_keys k ON k.share_id = s.id WHERE s.id = $1`,
        [share.id],
      );
      expect(rows).toEqual([{ message_id: messageId, key_type: 'file', chat_id: chat.id }]);
    } finally {
      live.close();
    }
  });

  it('a preview-only share: name and preview open, chunks are 403 and the wrap holds no FK', async () => {
    const { alice, bob, chat, file } = await trio();
    const { share } = await alice.client.drive.share(file.id, chat.id, { mode: 'preview' });
    const opened = await bob.client.drive.openShare(
      share.id,
      await cardFor(bob.client, chat.id, share.id),
    );
    expect(opened.mode).toBe('preview');
    expect(opened.meta.name).toBe('report.txt');
    expect(await opened.preview()).not.toBeNull();
    await expect(opened.download()).rejects.toMatchObject({ code: 'preview-only' });
    for (const p of [`/api/shares/${share.id}/chunks/0`, `/api/shares/${share.id}/content`]) {
      await expect(bob.client.http.raw(p)).rejects.toMatchObject({
        status: 403,
        type: 'forbidden',
      });
    }
    // Even with the ciphertext in hand (e.g. a server that serves it anyway), the wrap opens no FK.
    const chatKey = await bob.client.chats.key(chat.id, share.epoch);
    const keys = await openShare({
      chatKey,
      shareId: share.id,
      fileId: file.id,
      envelope: base64Decode(share.envelope),
      sharer: { id: alice.id, ed25519PublicKey: alice.client.identityPublic!.ed25519PublicKey },
    });
    expect(keys.mode).toBe('preview');
    expect('fileKey' in keys).toBe(false);
    expect('base' in (keys as { readKeys: object }).readKeys).toBe(false);
    const ciphertext = await readAllBytes(
      (await alice.client.http.raw(`/api/files/${file.id}/content`)).body!,
    );
    const guess = await generateFileKey(file.id);
    await expect(decryptFileBytes(guess, ciphertext)).rejects.toMatchObject({
      code: 'decrypt_failed',
    });
  });

  it('an expired share still shows its card but answers 410 for the content', async () => {
    const { alice, bob, chat, file } = await trio();
    const { share } = await alice.client.drive.share(file.id, chat.id, {
      mode: 'download',
      expiresAt: new Date(Date.now() + 3_600_000),
    });
    await t.db.pool.query(
      `UPDATE vdrive_chat_shares SET expires_at = now() - interval '1 second' WHERE id = $1`,
      [share.id],
    );
    const opened = await bob.client.drive.openShare(share.id);
    expect(opened.meta.name).toBe('report.txt');
    await expect(opened.download()).rejects.toMatchObject({ status: 410, type: 'gone' });
    await expect(bob.client.http.raw(`/api/shares/${share.id}/chunks/0`)).rejects.toMatchObject({
      status: 410,
    });
  });

  it('checks membership on every chunk request: a removed member and a stranger get 404', async () => {
    const { alice, bob, carol, chat, file } = await trio();
    const eve = await personWith(t.server.url, 'eve');
    const { share } = await alice.client.drive.share(file.id, chat.id, { mode: 'download' });
    const chunk = `/api/shares/${share.id}/chunks/0`;
    await (await carol.client.http.raw(chunk)).body?.cancel();
    await alice.client.chats.removeMember(chat.id, carol.id);
    for (const who of [carol, eve]) {
      for (const p of ['', '/preview', '/chunks/0', '/content']) {
        await expect(who.client.http.raw(`/api/shares/${share.id}${p}`)).rejects.toMatchObject({
          status: 404,
        });
      }
    }
    await (await bob.client.http.raw(chunk)).body?.cancel();
  });

  it('revoking deletes the wrap; members get 404 from then on; only the sharer may revoke', async () => {
    const { alice, bob, chat, file } = await trio();
    const { share } = await alice.client.drive.share(file.id, chat.id, { mode: 'download' });
    await expect(bob.client.drive.revokeShare(share.id)).rejects.toMatchObject({ status: 404 });
    await alice.client.drive.revokeShare(share.id);
    const { rows } = await t.db.pool.query('SELECT 1 FROM encryption_keys WHERE share_id = $1', [
      share.id,
    ]);
    expect(rows).toEqual([]);
    await expect(bob.client.drive.openShare(share.id)).rejects.toMatchObject({ status: 404 });
  });

  it('refuses a share minted by a non-sharer (a re-attributed row or a forged wrap)', async () => {
    const { alice, bob, carol, chat, file } = await trio();
    const { share } = await alice.client.drive.share(file.id, chat.id, { mode: 'download' });
    // Positive control: the genuine share opens.
    expect((await carol.client.drive.openShare(share.id)).mode).toBe('download');
    // The server re-attributes Alice's share to Bob (a member): the signature no longer holds.
    await t.db.pool.query('UPDATE vdrive_chat_shares SET shared_by = $2 WHERE id = $1', [
      share.id,
      bob.id,
    ]);
    const err = await carol.client.drive.openShare(share.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VutlerClientError);
    expect((err as VutlerClientError).code).toBe('untrusted-share');
    await t.db.pool.query('UPDATE vdrive_chat_shares SET shared_by = $2 WHERE id = $1', [
      share.id,
      alice.id,
    ]);
    // Bob holds the chat key and mints a wrap to a key of his own in Alice's name; the server
    // (or Bob with database access) stores it in place of hers.
    const fake = await generateFileKey(file.id);
    const forged = await createShare({
      chatKey: await bob.client.chats.key(chat.id, share.epoch),
      shareId: share.id,
      fileKey: fake,
      mode: 'download',
      sharer: { id: alice.id, signingKey: bob.client.identity!.ed25519.privateKey },
    });
    await t.db.pool.query('UPDATE encryption_keys SET encrypted_key = $2 WHERE share_id = $1', [
      share.id,
      Buffer.from(forged),
    ]);
    await expect(carol.client.drive.openShare(share.id)).rejects.toMatchObject({
      code: 'untrusted-share',
    });
    // The server refuses such a share over the API too: Alice cannot post a wrap Bob signed.
    const chatKey = await alice.client.chats.key(chat.id, share.epoch);
    const bobSigned = await createShare({
      chatKey,
      shareId: crypto.randomUUID(),
      fileKey: fake,
      mode: 'download',
      sharer: { id: alice.id, signingKey: bob.client.identity!.ed25519.privateKey },
    });
    await expect(
      alice.client.http.request(`/api/files/${file.id}/shares`, {
        body: {
          shareId: crypto.randomUUID(),
          chatId: chat.id,
          mode: 'download',
          envelope: base64Encode(bobSigned),
          message: {
            id: '01890000-0000-7000-8000-000000000000',
            epoch: 0,
            ciphertext: 'AAAA',
            signature: base64Encode(new Uint8Array(64)),
            chain: {
              id: base64Encode(new Uint8Array(CHAIN_ID_BYTES)),
              counter: 0,
              prev: base64Encode(new Uint8Array(MESSAGE_HASH_BYTES)),
            },
          },
        },
      }),
    ).rejects.toMatchObject({ status: 400, type: 'bad-signature' });
  });

  it('a card whose sender is not the sharer is refused', async () => {
    const { alice, bob, carol, chat, file } = await trio();
    const { share } = await alice.client.drive.share(file.id, chat.id, { mode: 'preview' });
    // Bob posts a card pointing at Alice's share: the card's sender is not the sharer.
    const bobCard = await bob.client.chats.send(chat.id, 'look', {
      attachments: [{ fileId: file.id, shareId: share.id }],
    });
    const card = (await carol.client.chats.history(chat.id)).find((m) => m.id === bobCard.id)!;
    await expect(carol.client.drive.openShare(share.id, card)).rejects.toMatchObject({
      code: 'untrusted-share',
    });
  });

  it('sharing needs the file to be yours and the chat to be yours; nothing is half-written', async () => {
    const { alice, bob, chat, file } = await trio();
    const eve = await personWith(t.server.url, 'eve');
    const eveFile = await eve.client.drive.upload(new Blob(['eve']), { name: 'e' });
    await expect(
      eve.client.drive.share(file.id, chat.id, { mode: 'download' }),
    ).rejects.toMatchObject({ status: 404 });
    await expect(
      eve.client.drive.share(eveFile.id, chat.id, { mode: 'download' }),
    ).rejects.toMatchObject({
      status: 404,
    });
    await expect(
      bob.client.drive.share(file.id, chat.id, { mode: 'preview' }),
    ).rejects.toMatchObject({ status: 404 });
    const { rows } = await t.db.pool.query(
      'SELECT count(*)::int AS n FROM vdrive_chat_shares WHERE file_id = ANY($1::uuid[])',
      [[file.id, eveFile.id]],
    );
    const { rows: msgs } = await t.db.pool.query(
      'SELECT count(*)::int AS n FROM messages WHERE chat_id = $1',
      [chat.id],
    );
    expect(rows[0].n).toBe(0);
    expect(msgs[0].n).toBe(0);
    // Positive control: the owner, a member, can share it.
    await alice.client.drive.share(file.id, chat.id, { mode: 'preview' });
  });
});
