/**
 * The Agents page's data and actions, on the SDK: the gateway key and whether this device pinned
 * it, each agent's permissions and grants, tokens, and MCP clients connected by consent. Grants
 * are made here, in the page: the SDK wraps the keys to the pinned gateway key and signs them
 * with the person's identity key; the server only stores what it cannot open.
 */
import {
  type AgentToken,
  type ConnectedClientView,
  deviceGatewayPins,
  type GrantView,
  type PermissionView,
  VutlerClientError,
} from '../../client/index.ts';
import type { Plan } from './access.ts';
import { chatState, chatTitle, refreshChats, sortedChats } from './chats.ts';
import { client } from './session.ts';
import { Store } from './store.ts';

export interface GatewayState {
  fingerprint?: string;
  /** `first-use`: pinned just now, on this visit; `pinned`: matches what this device pinned. */
  pin: 'first-use' | 'pinned' | 'changed' | 'unavailable';
  error?: unknown;
}

export interface Item {
  id: string;
  name: string;
}

export interface AgentsData {
  gateway: GatewayState;
  permissions: PermissionView[];
  grants: GrantView[];
  tokens: AgentToken[];
  clients: ConnectedClientView[];
  /** What may be picked per resource (names decrypted on this device). */
  items: { chat: Item[]; files: Item[]; github: Item[] };
}

export const agentsData = new Store<AgentsData | undefined>(undefined);

/** Compares the server's gateway key with this device's pin (pinning it on first use). */
export async function loadGateway(): Promise<GatewayState> {
  const hadPin = (await deviceGatewayPins(client).load()) !== undefined;
  try {
    const gw = await client.agents.gateway();
    return { fingerprint: gw.fingerprint, pin: hadPin ? 'pinned' : 'first-use' };
  } catch (err) {
    if (err instanceof VutlerClientError && err.code === 'gateway-key-changed')
      return { pin: 'changed', error: err };
    return { pin: 'unavailable', error: err };
  }
}

async function pickable(): Promise<AgentsData['items']> {
  await refreshChats();
  const s = chatState.get();
  const chat = sortedChats(s).map((e) => ({ id: e.chat.id, name: chatTitle(e.chat, s) }));
  const files = await client.drive
    .list({ limit: 200 })
    .then((r) =>
      r.files.filter((f) => f.status === 'ready').map((f) => ({ id: f.id, name: f.meta.name })),
    )
    .catch(() => [] as Item[]);
  // GitHub may not be set up on this server: then there is simply nothing to pick.
  const github = await client.http
    .request<{ repos: { id: string; fullName: string }[] }>('/api/github/repos')
    .then((r) => r.repos.map((x) => ({ id: x.id, name: x.fullName })))
    .catch(() => [] as Item[]);
  return { chat, files, github };
}

export async function loadAgents(): Promise<void> {
  const [gateway, permissions, grants, tokens, clients, items] = await Promise.all([
    loadGateway(),
    client.agents.permissions(),
    client.agents.grants(),
    client.listAgentTokens(),
    client.connectedClients.list(),
    pickable(),
  ]);
  agentsData.set({ gateway, permissions, grants, tokens, clients, items });
}

/** Every agent name this person uses anywhere, plus `claude` (the built-in worker agent). */
export function agentNames(d: AgentsData): string[] {
  const names = new Set<string>(['claude']);
  for (const p of d.permissions) names.add(p.agentName);
  for (const g of d.grants) names.add(g.agentName);
  for (const t of d.tokens) if (t.status === 'active') names.add(t.agentName);
  for (const c of d.clients) names.add(c.agentName);
  return [...names].sort();
}

/**
 * Carries out a plan: permission rows first (so a grant never exists without the row that
 * limits it), then new grants, then revocations — a chat's revocation rotates its epoch, and
 * the SDK extends this person's other agents' grants on that chat to the new epoch.
 */
export async function applyPlan(agentName: string, plan: Plan): Promise<void> {
  for (const p of plan.permissions) await client.agents.setPermission({ agentName, ...p });
  for (const g of plan.grantChats)
    await client.agents.grantChat(g.chatId, agentName, {
      scope: g.scope,
      expiresAt: plan.expiresAt.chat,
    });
  for (const id of plan.grantFiles)
    await client.agents.grantFile(id, agentName, { expiresAt: plan.expiresAt.files });
  if (plan.grantMemory) await client.memory.grant(agentName, { expiresAt: plan.expiresAt.memory });
  for (const id of plan.revoke) await client.agents.revokeGrant(id);
}

/** Revokes one grant (a chat's rotates the chat key). */
export async function revokeGrant(grantId: string): Promise<void> {
  await client.agents.revokeGrant(grantId);
  await loadAgents();
}

export async function issueToken(input: {
  agentName: string;
  expiresInDays: number;
  label?: string;
}): Promise<string> {
  const { token } = await client.createAgentToken(input);
  await loadAgents();
  return token;
}

export async function revokeToken(id: string): Promise<void> {
  await client.revokeAgentToken(id);
  await loadAgents();
}

export async function disconnectClient(id: string): Promise<void> {
  await client.connectedClients.disconnect(id);
  await loadAgents();
}
