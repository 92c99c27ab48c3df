/**
 * Agent memory on the owner's device: makes the per-(user, agent) memory key, keeps it wrapped
 * under MK on the server, grants it to the pinned gateway key, and reads, corrects and deletes
 * the agent's entries — decrypting and verifying each one here (agent entries against the
 * pinned gateway key, the user's own against their identity key).
 */
import { base64Decode, base64Encode, wipe } from '../crypto/bytes.ts';
import { createGrant } from '../crypto/grants.ts';
import {
  generateMemoryKey,
  importMemoryKey,
  type MemoryWriter,
  openMemoryEntry,
  sealMemoryEntry,
  unwrapMemoryKey,
  wrapMemoryKey,
} from '../crypto/memory.ts';
import { uuidv7 } from '../crypto/uuid.ts';
import type { MemoryEntryView, MemoryGrantView, MemoryKeyView } from '../memory/types.ts';
import type { PinnedGateway } from './agents.ts';
import type { ClientContext } from './context.ts';
import { VutlerApiError, VutlerClientError } from './http.ts';

export type { MemoryGrantView };

export interface Memory {
  id: string;
  /** `rejected`: the entry did not verify or decrypt (and its text is absent). */
  status: 'ok' | 'rejected';
  text?: string;
  tags?: string[];
  writtenBy: MemoryWriter;
  createdAt: string;
  updatedAt: string;
}

/** What memory needs from `VutlerClient` (an interface, so the modules form no import cycle). */
export interface MemoryClientContext extends ClientContext {
  /** Non-extractable; present once encryption is unlocked on this device. */
  readonly masterKey: CryptoKey | undefined;
}

export class MemoryClient {
  constructor(
    private readonly c: MemoryClientContext,
    /** The gateway keys this device pinned (`AgentsClient.gateway`). */
    private readonly gateway: () => Promise<PinnedGateway>,
  ) {}

  private me() {
    const me = this.c.unlocked();
    const mk = this.c.masterKey;
    if (!mk) throw new VutlerClientError('locked', 'Log in and unlock encryption first.');
    return {
      id: me.id,
      identity: me.identity,
      mk,
      publicKey: me.identityPublic.ed25519PublicKey,
    };
  }

  private path(agentName: string, rest: string) {
    return `/api/memory/${encodeURIComponent(agentName)}/${rest}`;
  }

  /** The pair's key, created (and uploaded wrapped under MK) on first use. */
  private async keyOf(agentName: string): Promise<{ keyId: string; raw: Uint8Array }> {
    const me = this.me();
    let view: MemoryKeyView;
    try {
      view = await this.c.http.request<MemoryKeyView>(this.path(agentName, 'key'));
    } catch (err) {
      if (!(err instanceof VutlerApiError && err.status === 404)) throw err;
      const keyId = globalThis.crypto.randomUUID();
      const raw = generateMemoryKey();
      const ctx = { userId: me.id, agentName, keyId };
      view = await this.c.http.request<MemoryKeyView>(this.path(agentName, 'key'), {
        method: 'PUT',
        body: { keyId, wrappedKey: base64Encode(await wrapMemoryKey(me.mk, ctx, raw)) },
      });
      wipe(raw);
    }
    const raw = await unwrapMemoryKey(
      me.mk,
      { userId: me.id, agentName, keyId: view.keyId },
      base64Decode(view.wrappedKey),
    );
    return { keyId: view.keyId, raw };
  }

  private async cryptoKey(agentName: string): Promise<{ keyId: string; key: CryptoKey }> {
    const { keyId, raw } = await this.keyOf(agentName);
    try {
      return { keyId, key: await importMemoryKey(raw) };
    } finally {
      wipe(raw);
    }
  }

  /**
   * Lets the gateway open this agent's memory (the agent also needs a `memory` permission of
   * level `decrypt_ephemeral`, with `allow_write` for remember/forget). Replaces an earlier grant;
   * revoke with `agents.revokeGrant(grantId)`.
   */
  async grant(agentName: string, opts: { expiresAt?: Date } = {}): Promise<MemoryGrantView> {
    const me = this.me();
    const gw = await this.gateway();
    const { keyId, raw } = await this.keyOf(agentName);
    const grantId = globalThis.crypto.randomUUID();
    const expiresAt = opts.expiresAt ? new Date(Math.floor(opts.expiresAt.getTime())) : null;
    try {
      const { envelope } = await createGrant({
        userId: me.id,
        agentId: agentName,
        subject: { resourceType: 'memory', resourceId: keyId, memoryKey: raw },
        terms: {
          grantId,
          accessLevel: 'decrypt_ephemeral',
          expiresAt: expiresAt?.getTime() ?? null,
        },
        gatewayX25519PublicKey: gw.x25519PublicKey,
        ownerSigningKey: me.identity.ed25519.privateKey,
      });
      return await this.c.http.request<MemoryGrantView>('/api/memory/grants', {
        body: {
          agentName,
          grantId,
          expiresAt: expiresAt?.toISOString() ?? null,
          envelope: base64Encode(envelope),
        },
      });
    } finally {
      wipe(raw);
    }
  }

  /** Every entry of the agent's memory, decrypted and verified on this device, newest first. */
  async list(agentName: string): Promise<Memory[]> {
    const me = this.me();
    const gw = await this.gateway();
    const { keyId, key } = await this.cryptoKey(agentName);
    const { entries } = await this.c.http.request<{ entries: MemoryEntryView[] }>(
      this.path(agentName, 'entries'),
    );
    const out: Memory[] = [];
    for (const e of entries) {
      const base = {
        id: e.id,
        writtenBy: e.writtenBy,
        createdAt: e.createdAt,
        updatedAt: e.updatedAt,
      };
      try {
        // The key id bound is this device's, not the one the server lists beside the entry.
        const body = await openMemoryEntry({
          key,
          ctx: { userId: me.id, agentName, keyId, entryId: e.id },
          envelope: base64Decode(e.envelope),
          signers: { agent: gw.ed25519PublicKey, user: me.publicKey },
        });
        out.push({
          ...base,
          writtenBy: body.writer,
          status: 'ok',
          text: body.text,
          tags: body.tags,
        });
      } catch {
        out.push({ ...base, status: 'rejected' });
      }
    }
    return out;
  }

  /** Writes a memory as the user (a new one, or a correction of `opts.id`), signed by them. */
  async write(
    agentName: string,
    text: string,
    opts: { id?: string; tags?: string[] } = {},
  ): Promise<{ id: string }> {
    const me = this.me();
    const { keyId, key } = await this.cryptoKey(agentName);
    const id = (opts.id ?? uuidv7()).toLowerCase();
    const envelope = await sealMemoryEntry({
      key,
      ctx: { userId: me.id, agentName, keyId, entryId: id },
      writer: 'user',
      body: { text, tags: opts.tags ?? [] },
      signingKey: me.identity.ed25519.privateKey,
    });
    await this.c.http.request(this.path(agentName, `entries/${encodeURIComponent(id)}`), {
      method: 'PUT',
      body: { envelope: base64Encode(envelope) },
    });
    return { id };
  }

  /** Replaces an entry's text (it is then signed by the user, not the agent). */
  correct(agentName: string, id: string, text: string, tags?: string[]) {
    return this.write(agentName, text, { id, tags });
  }

  /** Deletes for good. */
  async delete(agentName: string, id: string): Promise<void> {
    await this.c.http.request(this.path(agentName, `entries/${encodeURIComponent(id)}`), {
      method: 'DELETE',
    });
  }
}
