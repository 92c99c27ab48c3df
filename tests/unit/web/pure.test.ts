import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../../src/client/index.ts';
import { mentionAt, mentionsIn, mergeMessages } from '../../../src/web/lib/pure.ts';

const msg = (seq: number, text = `m${seq}`): ChatMessage => ({
  id: `id-${seq}`,
  chatId: 'c',
  seq,
  senderId: 'u',
  senderAgent: null,
  epoch: 0,
  createdAt: new Date(seq * 1000).toISOString(),
  mentions: [],
  decryptionPermissions: {},
  status: 'ok',
  body: { text, replyTo: null, attachments: [] },
});

describe('mergeMessages', () => {
  it('keeps one copy per seq, in seq order, when a resume replays what the page has', () => {
    const held = [msg(1), msg(2), msg(3)];
    const replay = [msg(3), msg(4), msg(2), msg(5)];
    expect(mergeMessages(held, replay).map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it('lets the later copy win, so a deletion replaces the text', () => {
    const deleted: ChatMessage = { ...msg(2), status: 'deleted', body: undefined };
    const merged = mergeMessages([msg(1), msg(2)], [deleted]);
    expect(merged.map((m) => m.status)).toEqual(['ok', 'deleted']);
  });
});

describe('mentions', () => {
  it('finds the @word being typed before the caret', () => {
    expect(mentionAt('hi @cla', 7)).toEqual({ start: 3, query: 'cla' });
    expect(mentionAt('@', 1)).toEqual({ start: 0, query: '' });
    expect(mentionAt('mail a@b', 8)).toBeUndefined();
    expect(mentionAt('hi @cla there', 13)).toBeUndefined();
  });

  it('sends only known agents, once each, and not parts of email addresses', () => {
    const agents = ['claude', 'deploy-bot'];
    expect(mentionsIn('@claude and @claude, @deploy-bot!', agents)).toEqual([
      'claude',
      'deploy-bot',
    ]);
    expect(mentionsIn('write to bob@claude.ai', agents)).toEqual([]);
    expect(mentionsIn('@claudette hi', agents)).toEqual([]);
    expect(mentionsIn('@unknown hi', agents)).toEqual([]);
    expect(mentionsIn('thanks @claude.', agents)).toEqual(['claude']);
  });
});
