import { describe, expect, it } from 'vitest';
import { uuidv7 } from '../../../src/crypto/uuid.ts';
import { agentsLink, agentsLinkTarget } from '../../../src/web/lib/pure.ts';
import { parseRoute } from '../../../src/web/lib/route.ts';

const target = (hash: string) => {
  const r = parseRoute(hash);
  return { page: r.page, ...agentsLinkTarget(r.params) };
};

describe('agentsLinkTarget: the Agents page reads the links the chat makes', () => {
  it('reads back the chat and agent a "no grant" hint links to', () => {
    const chat = uuidv7();
    expect(target(agentsLink(chat, 'claude'))).toEqual({ page: 'agents', agent: 'claude', chat });
    expect(target(agentsLink(chat, 'github'))).toEqual({ page: 'agents', agent: 'github', chat });
    // Either alone, in any order, and an upper-case id as a person might paste it.
    expect(target(`#/agents?agent=desk.top-2&chat=${chat.toUpperCase()}`)).toEqual({
      page: 'agents',
      agent: 'desk.top-2',
      chat,
    });
    expect(target(`#/agents?chat=${chat}`)).toEqual({ page: 'agents', chat });
    expect(target('#/agents?agent=claude')).toEqual({ page: 'agents', agent: 'claude' });
    expect(target('#/agents')).toEqual({ page: 'agents' });
  });

  it('leaves out what is not an agent name or a chat id, keeping the rest', () => {
    const chat = uuidv7();
    for (const agent of ['', 'Claude', '-x', 'a b', '../admin', '<img>', 'a'.repeat(101)]) {
      const q = new URLSearchParams({ chat, agent });
      expect(agentsLinkTarget(q), agent).toEqual({ chat });
    }
    for (const bad of ['', 'c1', `${chat}x`, `${chat}&agent=evil`, 'javascript:alert(1)']) {
      const q = new URLSearchParams({ chat: bad, agent: 'claude' });
      expect(agentsLinkTarget(q), bad).toEqual({ agent: 'claude' });
    }
    // A repeated parameter takes the first, as URLSearchParams.get does.
    expect(agentsLinkTarget(new URLSearchParams('agent=claude&agent=evil'))).toEqual({
      agent: 'claude',
    });
  });
});
