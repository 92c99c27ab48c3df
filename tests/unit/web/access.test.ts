import { describe, expect, it } from 'vitest';
import type { GrantView, PermissionView } from '../../../src/gateway/types.ts';
import {
  conditionsOf,
  DraftError,
  draftFrom,
  emptyDraft,
  emptyResource,
  isEmptyPlan,
  planChanges,
  summarize,
} from '../../../src/web/lib/access.ts';
import { mcpConfigs, shellQuote } from '../../../src/web/lib/mcp-config.ts';
import { parseRoute, routeOfNext } from '../../../src/web/lib/route.ts';

const CHAT_A = '0190a5b2-0000-7000-8000-00000000000a';
const CHAT_B = '0190a5b2-0000-7000-8000-00000000000b';
const FILE = '0190a5b2-0000-7000-8000-00000000000f';

const row = (p: Partial<PermissionView>): PermissionView => ({
  id: 'p1',
  agentName: 'claude',
  resourceType: 'chat',
  accessLevel: 'decrypt_ephemeral',
  conditions: {},
  createdAt: '',
  updatedAt: '',
  ...p,
});
const grant = (g: Partial<GrantView>): GrantView => ({
  grantId: 'g1',
  agentName: 'claude',
  resourceType: 'chat',
  resourceId: CHAT_A,
  scope: 'from_now_on',
  accessLevel: 'decrypt_ephemeral',
  expiresAt: null,
  epochs: [0],
  createdAt: '',
  ...g,
});

describe('the access draft', () => {
  it('starts from nothing: an empty draft plans no permission and no grant', () => {
    const plan = planChanges('claude', emptyDraft(), [], []);
    expect(plan.permissions).toEqual([]);
    expect(plan.grantChats).toEqual([]);
    expect(plan.grantFiles).toEqual([]);
    expect(plan.grantMemory).toBe(false);
    expect(isEmptyPlan(plan, [], 'claude')).toBe(true);
    expect(summarize(emptyDraft())).toEqual([]);
  });

  it('turns ticked chats into an allow-list and one grant each, with the chosen history', () => {
    const d = emptyDraft();
    d.chat = {
      ...emptyResource(),
      level: 'decrypt_ephemeral',
      items: [CHAT_A, CHAT_B],
      scopes: { [CHAT_B]: 'all_history' },
      allowWrite: true,
      maxItems: '25',
      hoursOn: true,
      hoursStart: 22,
      hoursEnd: 6,
    };
    const plan = planChanges('claude', d, [], []);
    expect(plan.permissions).toEqual([
      {
        resourceType: 'chat',
        accessLevel: 'decrypt_ephemeral',
        conditions: {
          resource_ids: [CHAT_A, CHAT_B],
          max_items_per_call: 25,
          allow_write: true,
          hours: { start: 22, end: 6 },
        },
      },
    ]);
    expect(plan.grantChats).toEqual([
      { chatId: CHAT_A, scope: 'from_now_on' },
      { chatId: CHAT_B, scope: 'all_history' },
    ]);
  });

  it('round-trips what the server holds, and unticking revokes the grant', () => {
    const perms = [row({ conditions: { resource_ids: [CHAT_A] } })];
    const grants = [grant({})];
    const d = draftFrom('claude', perms, grants);
    expect(d.chat.items).toEqual([CHAT_A]);
    expect(d.chat.level).toBe('decrypt_ephemeral');
    // Unchanged: nothing to do.
    expect(isEmptyPlan(planChanges('claude', d, perms, grants), perms, 'claude')).toBe(true);
    d.chat.items = [];
    const plan = planChanges('claude', d, perms, grants);
    expect(plan.revoke).toEqual(['g1']);
    expect(plan.permissions[0]?.conditions.resource_ids).toEqual([]);
  });

  it('widening a chat to all history grants again; narrowing keeps what was granted', () => {
    const perms = [row({ conditions: { resource_ids: [CHAT_A] } })];
    const d = draftFrom('claude', perms, [grant({})]);
    d.chat.scopes[CHAT_A] = 'all_history';
    expect(planChanges('claude', d, perms, [grant({})]).grantChats).toEqual([
      { chatId: CHAT_A, scope: 'all_history' },
    ]);
    const wide = [grant({ scope: 'all_history' })];
    const d2 = draftFrom('claude', perms, wide);
    d2.chat.scopes[CHAT_A] = 'from_now_on';
    expect(planChanges('claude', d2, perms, wide).grantChats).toEqual([]);
  });

  it('setting a resource back to "no access" keeps a denied row and revokes its grants', () => {
    const perms = [
      row({ id: 'p2', resourceType: 'files', conditions: { resource_ids: [FILE] } }),
      row({ id: 'p3', resourceType: 'memory', conditions: { allow_write: true } }),
    ];
    const grants = [
      grant({ grantId: 'gf', resourceType: 'files', resourceId: FILE }),
      grant({ grantId: 'gm', resourceType: 'memory', resourceId: 'k' }),
    ];
    const d = draftFrom('claude', perms, grants);
    expect(d.files.items).toEqual([FILE]);
    d.files.level = 'denied';
    d.memory.level = 'denied';
    const plan = planChanges('claude', d, perms, grants);
    expect(plan.permissions.map((p) => [p.resourceType, p.accessLevel])).toEqual([
      ['files', 'denied'],
      ['memory', 'denied'],
    ]);
    expect(plan.revoke.sort()).toEqual(['gf', 'gm']);
  });

  it('grants memory once, and only another agent’s rows are left alone', () => {
    const d = emptyDraft();
    d.memory.level = 'decrypt_ephemeral';
    const other = [row({ agentName: 'other', resourceType: 'memory' })];
    const plan = planChanges('claude', d, other, [grant({ agentName: 'other' })]);
    expect(plan.grantMemory).toBe(true);
    expect(plan.revoke).toEqual([]);
  });

  it('"all chats" drops the allow-list for metadata, never for decrypted content', () => {
    const meta = { ...emptyResource(), level: 'metadata' as const, allItems: true };
    expect(conditionsOf('chat', meta)).toEqual({});
    const read = { ...meta, level: 'decrypt_ephemeral' as const, items: [CHAT_A] };
    expect(conditionsOf('chat', read)).toEqual({ resource_ids: [CHAT_A] });
  });

  it('refuses bad conditions with a sentence, before anything is sent', () => {
    const bad = (p: Partial<ReturnType<typeof emptyResource>>) => () =>
      conditionsOf('chat', { ...emptyResource(), level: 'metadata', ...p });
    expect(bad({ maxItems: '0' })).toThrow(DraftError);
    expect(bad({ maxItems: '2.5' })).toThrow(/whole number/);
    expect(bad({ expires: '2001-01-01T00:00' })).toThrow(/in the past/);
    expect(bad({ expires: 'soon' })).toThrow(/not a date/);
    expect(bad({ hoursOn: true, hoursStart: 5, hoursEnd: 5 })).toThrow(/same hour/);
    const future = new Date(Date.now() + 86_400_000);
    const c = conditionsOf('chat', {
      ...emptyResource(),
      level: 'metadata',
      expires: `${future.getFullYear()}-${String(future.getMonth() + 1).padStart(2, '0')}-${String(future.getDate()).padStart(2, '0')}T12:00`,
    });
    expect(new Date(c.expires_at ?? '').getTime()).toBeGreaterThan(Date.now());
  });
});

describe('the MCP configurations shown with a new token', () => {
  const token = `vta_${'A'.repeat(43)}`;
  const configs = mcpConfigs('https://vutler.example.com/', token);

  it('has Claude Code, Claude Desktop and the Inspector, each over HTTP and stdio', () => {
    expect(configs.map((c) => `${c.client} ${c.transport}`)).toEqual([
      'Claude Code HTTP',
      'Claude Code stdio',
      'Claude Desktop HTTP',
      'Claude Desktop stdio',
      'MCP Inspector HTTP',
      'MCP Inspector stdio',
    ]);
  });

  it('puts the token where each client reads it, and the URL for HTTP', () => {
    for (const c of configs) {
      expect(c.text).toContain(token);
      if (c.transport === 'HTTP') expect(c.text).toContain('https://vutler.example.com/mcp');
      else expect(c.text).toMatch(/mcp --stdio|"--stdio"/);
    }
    const desktop = JSON.parse(configs.find((c) => c.id === 'claude-desktop-http')?.text ?? '');
    expect(desktop.mcpServers.vutler.env.AUTH_HEADER).toBe(`Bearer ${token}`);
    const stdio = JSON.parse(configs.find((c) => c.id === 'claude-desktop-stdio')?.text ?? '');
    expect(stdio.mcpServers.vutler.env.VUTLER_AGENT_TOKEN).toBe(token);
    expect(stdio.mcpServers.vutler.args).toEqual(['vutler', 'mcp', '--stdio']);
  });

  it('quotes shell arguments so a paste runs as one argument each', () => {
    expect(shellQuote('plain-arg')).toBe('plain-arg');
    expect(shellQuote('Authorization: Bearer x')).toBe(`'Authorization: Bearer x'`);
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });
});

describe('the app routes', () => {
  it('reads the page and its query from the fragment', () => {
    const r = parseRoute('#/consent?client_id=abc&state=x%20y');
    expect(r.page).toBe('consent');
    expect(r.params.get('state')).toBe('x y');
    expect(parseRoute('').page).toBe('');
    expect(parseRoute('#/agents/').page).toBe('agents');
  });

  it('follows ?next= only to this app: the consent or a fragment route', () => {
    expect(routeOfNext('/oauth/authorize?client_id=a&state=s')).toBe(
      '#/consent?client_id=a&state=s',
    );
    expect(routeOfNext('/#/agents')).toBe('#/agents');
    for (const hostile of [
      'https://evil.example/',
      '//evil.example/oauth/authorize?x=1',
      '/\\evil.example',
      'javascript:alert(1)',
      '/api/me',
      '',
      null,
    ])
      expect(routeOfNext(hostile)).toBeUndefined();
  });
});
