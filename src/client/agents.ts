/**
 * The agents half of the SDK: the gateway's keys (pinned on first use), permissions, key grants
 * and the audit log. Grants are made here, on the owner's device: chat epoch keys are wrapped to
 * the pinned gateway key and signed with the owner's identity key; the server only stores them.
 */
import { base64Decode, base64Encode, constantTimeEqual } from '../crypto/bytes.ts';
import { createGrant, type GatewayPublicBundle } from '../crypto/grants.ts';
import { fingerprint } from '../crypto/identity.ts';
import type {
  AccessLevel,
  AuditEntryView,
  GrantScope,
  GrantView,
  PermissionConditions,
  PermissionResourceType,
  PermissionView,
} from '../gateway/types.ts';
import type { ChatsClient } from './chat.ts';
import type { ClientContext } from './context.ts';
import type { DriveClient } from './drive.ts';
import { VutlerClientError } from './http.ts';

/** What the agents client needs of the SDK: the HTTP layer, the account, the device, chats. */
export interface AgentsContext extends ClientContext {
  readonly chats: Pick<ChatsClient, 'key' | 'get' | 'rotate'>;
  readonly drive: Pick<DriveClient, 'grantableKey'>;
}

export type { AuditEntryView, GatewayPublicBundle, GrantView, PermissionView };

/**
 * Where a device keeps the gateway key it pinned: by default the device key store's gateway slot
 * (`{ x25519, ed25519 }`, base64), which is also where the chat reader looks when it verifies an
 * agent's message.
 */
export interface GatewayPinStore {
  load(): Promise<{ x25519: string; ed25519: string } | undefined>;
  save(keys: { x25519: string; ed25519: string }): Promise<void>;
}

export function deviceGatewayPins(c: AgentsContext): GatewayPinStore {
  return {
    load: async () => {
      const v = (await c.device().gatewayKeys()) as
        | { x25519?: unknown; ed25519?: unknown }
        | undefined;
      return typeof v?.x25519 === 'string' && typeof v.ed25519 === 'string'
        ? { x25519: v.x25519, ed25519: v.ed25519 }
        : undefined;
    },
    save: (keys) => c.device().setGatewayKeys({ x25519: keys.x25519, ed25519: keys.ed25519 }),
  };
}

export interface PinnedGateway {
  x25519PublicKey: Uint8Array;
  ed25519PublicKey: Uint8Array;
  fingerprint: string;
}

export class AgentsClient {
  private verified: PinnedGateway | undefined;
  private readonly pins: GatewayPinStore;

  constructor(
    private readonly c: AgentsContext,
    pins?: GatewayPinStore,
  ) {
    this.pins = pins ?? deviceGatewayPins(c);
  }

  /**
   * The gateway's public keys: pinned the first time, and afterwards a server answering with
   * other keys is refused (`gateway-key-changed`) rather than silently believed. The fingerprint
   * is computed here, never taken from the server.
   */
  async gateway(): Promise<PinnedGateway> {
    const res = await this.c.http.request<GatewayPublicBundle>('/api/gateway/keys');
    const x25519PublicKey = base64Decode(res.x25519, 32);
    const ed25519PublicKey = base64Decode(res.ed25519, 32);
    const pinned = await this.pins.load();
    if (pinned) {
      const same =
        constantTimeEqual(base64Decode(pinned.x25519, 32), x25519PublicKey) &&
        constantTimeEqual(base64Decode(pinned.ed25519, 32), ed25519PublicKey);
      if (!same)
        throw new VutlerClientError(
          'gateway-key-changed',
          'The gateway key differs from the one this device pinned; refusing to use it.',
        );
    } else {
      await this.pins.save({ x25519: res.x25519, ed25519: res.ed25519 });
    }
    this.verified = {
      x25519PublicKey,
      ed25519PublicKey,
      fingerprint: await fingerprint({ x25519PublicKey, ed25519PublicKey }),
    };
    return this.verified;
  }

  async permissions(agentName?: string): Promise<PermissionView[]> {
    const query: Record<string, string> = agentName ? { agentName } : {};
    return (
      await this.c.http.request<{ permissions: PermissionView[] }>('/api/agents/permissions', {
        query,
      })
    ).permissions;
  }

  setPermission(input: {
    agentName: string;
    resourceType: PermissionResourceType;
    accessLevel: AccessLevel;
    conditions?: PermissionConditions;
  }): Promise<PermissionView> {
    return this.c.http.request<PermissionView>('/api/agents/permissions', {
      method: 'PUT',
      body: { ...input, conditions: input.conditions ?? {} },
    });
  }

  async deletePermission(id: string): Promise<void> {
    await this.c.http.request(`/api/agents/permissions/${encodeURIComponent(id)}`, {
      method: 'DELETE',
    });
  }

  private me() {
    const me = this.c.unlocked();
    return { id: me.id, signingKey: me.identity.ed25519.privateKey };
  }

  private async wrapEpochs(
    p: { chatId: string; agentName: string; grantId: string; expiresAt: Date | null },
    epochs: number[],
  ) {
    const me = this.me();
    const gw = await this.gateway();
    const wraps: { epoch: number; envelope: string }[] = [];
    for (const epoch of epochs) {
      const key = await this.c.chats.key(p.chatId, epoch).catch(() => undefined);
      if (!key) continue;
      const { envelope } = await createGrant({
        userId: me.id,
        agentId: p.agentName,
        subject: { resourceType: 'chat', chatKey: key },
        terms: {
          grantId: p.grantId,
          accessLevel: 'decrypt_ephemeral',
          expiresAt: p.expiresAt?.getTime() ?? null,
        },
        gatewayX25519PublicKey: gw.x25519PublicKey,
        ownerSigningKey: me.signingKey,
      });
      wraps.push({ epoch, envelope: base64Encode(envelope) });
    }
    return wraps;
  }

  /**
   * Lets `agentName` decrypt this chat through the gateway: `from_now_on` wraps the current
   * epoch only, `all_history` every epoch this device holds. Replaces an earlier grant.
   * The agent also needs a `chat` permission of level `decrypt_ephemeral`.
   */
  async grantChat(
    chatId: string,
    agentName: string,
    opts: { scope?: GrantScope; expiresAt?: Date } = {},
  ): Promise<GrantView> {
    const scope = opts.scope ?? 'from_now_on';
    const chat = await this.c.chats.get(chatId);
    const epochs =
      scope === 'all_history'
        ? Array.from({ length: chat.currentEpoch + 1 }, (_, i) => i)
        : [chat.currentEpoch];
    const grantId = globalThis.crypto.randomUUID();
    const expiresAt = opts.expiresAt ? new Date(Math.floor(opts.expiresAt.getTime())) : null;
    const wraps = await this.wrapEpochs({ chatId, agentName, grantId, expiresAt }, epochs);
    return this.c.http.request<GrantView>('/api/agents/grants', {
      body: {
        grantId,
        agentName,
        resourceType: 'chat',
        resourceId: chatId,
        scope,
        expiresAt: expiresAt?.toISOString() ?? null,
        wraps,
      },
    });
  }

  /**
   * Lets `agentName` read one VDrive file through the gateway: wraps the file's FK to the pinned
   * gateway key, signed with terms (grant id, level, expiry). The agent also needs a `files`
   * permission: `metadata` lets it see name/type/size, `decrypt_ephemeral` also the content.
   * Replaces an earlier grant of this file to this agent; revoke with `revokeGrant`.
   */
  async grantFile(
    fileId: string,
    agentName: string,
    opts: { expiresAt?: Date } = {},
  ): Promise<GrantView> {
    const me = this.me();
    const gw = await this.gateway();
    const grantId = globalThis.crypto.randomUUID();
    const expiresAt = opts.expiresAt ? new Date(Math.floor(opts.expiresAt.getTime())) : null;
    const fileKey = await this.c.drive.grantableKey(fileId);
    const { envelope } = await createGrant({
      userId: me.id,
      agentId: agentName,
      subject: { resourceType: 'files', fileKey },
      terms: {
        grantId,
        accessLevel: 'decrypt_ephemeral',
        expiresAt: expiresAt?.getTime() ?? null,
      },
      gatewayX25519PublicKey: gw.x25519PublicKey,
      ownerSigningKey: me.signingKey,
    });
    return this.c.http.request<GrantView>('/api/agents/grants', {
      body: {
        grantId,
        agentName,
        resourceType: 'files',
        resourceId: fileId,
        scope: 'all_history',
        expiresAt: expiresAt?.toISOString() ?? null,
        wraps: [{ epoch: 0, envelope: base64Encode(envelope) }],
      },
    });
  }

  /** After a rotation: wraps the epochs this grant lacks, up to the chat's current one. */
  async extendGrant(grant: GrantView): Promise<GrantView> {
    const chat = await this.c.chats.get(grant.resourceId);
    const have = new Set(grant.epochs);
    const from = Math.min(...grant.epochs);
    const missing: number[] = [];
    for (let e = from; e <= chat.currentEpoch; e++) if (!have.has(e)) missing.push(e);
    if (missing.length === 0) return grant;
    const wraps = await this.wrapEpochs(
      {
        chatId: grant.resourceId,
        agentName: grant.agentName,
        grantId: grant.grantId,
        expiresAt: grant.expiresAt ? new Date(grant.expiresAt) : null,
      },
      missing,
    );
    return this.c.http.request<GrantView>(
      `/api/agents/grants/${encodeURIComponent(grant.grantId)}/wraps`,
      { body: { wraps } },
    );
  }

  async grants(agentName?: string): Promise<GrantView[]> {
    const query: Record<string, string> = agentName ? { agentName } : {};
    return (await this.c.http.request<{ grants: GrantView[] }>('/api/agents/grants', { query }))
      .grants;
  }

  /** Extends every grant this person made on `chatId` to the chat's current epoch (after a rotation). */
  async extendChatGrants(chatId: string): Promise<GrantView[]> {
    const mine = (await this.grants()).filter((g) => g.resourceId === chatId);
    const out: GrantView[] = [];
    for (const g of mine) out.push(await this.extendGrant(g));
    return out;
  }

  /**
   * Deletes the grant's wraps, then rotates the chat so the gateway's copy of the old epoch key
   * opens nothing written from now on; this person's other agents' grants on that chat are
   * extended to the new epoch, so revoking one agent does not cut off the others.
   */
  async revokeGrant(grantId: string): Promise<void> {
    const res = await this.c.http.request<{ resourceType: string; resourceId: string }>(
      `/api/agents/grants/${encodeURIComponent(grantId)}`,
      { method: 'DELETE' },
    );
    if (res.resourceType === 'chat') {
      await this.c.chats.rotate(res.resourceId);
      await this.extendChatGrants(res.resourceId);
    }
  }

  async audit(
    filters: {
      agentName?: string;
      resourceId?: string;
      outcome?: 'allowed' | 'denied' | 'error';
      from?: string;
      to?: string;
      cursor?: string;
      limit?: number;
    } = {},
  ): Promise<{ entries: AuditEntryView[]; nextCursor: string | null }> {
    const query: Record<string, string> = {};
    for (const [k, v] of Object.entries(filters)) if (v !== undefined) query[k] = String(v);
    return this.c.http.request('/api/audit', { query });
  }
}
