import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AnthropicStandIn,
  rateLimited,
  startAnthropicStandIn,
  text,
  toolUse,
} from '../../helpers/anthropic-standin.ts';

describe('the Anthropic stand-in, through the real SDK', () => {
  let s: AnthropicStandIn;
  beforeAll(async () => {
    s = await startAnthropicStandIn({ apiKey: 'sk-test' });
  });
  afterAll(() => s.close());
  const client = (opts: Partial<ConstructorParameters<typeof Anthropic>[0]> = {}) =>
    new Anthropic({ apiKey: 'sk-test', baseURL: s.url, maxRetries: 0, ...opts });
  const params = {
    model: 'claude-test',
    max_tokens: 64,
    messages: [{ role: 'user' as const, content: 'hi' }],
    tools: [{ name: 'whoami', description: 'who', input_schema: { type: 'object' as const } }],
  };

  it('streams tool_use (input_json_delta) and text (text_delta) turns the SDK assembles', async () => {
    s.script([toolUse('whoami', { verbose: true }, 'Checking.'), text('You are Alice.')]);
    const first = await client().messages.stream(params).finalMessage();
    expect(first.stop_reason).toBe('tool_use');
    expect(first.content).toEqual([
      expect.objectContaining({ type: 'text', text: 'Checking.' }),
      expect.objectContaining({
        type: 'tool_use',
        id: expect.stringMatching(/^toolu_/),
        name: 'whoami',
        input: { verbose: true },
      }),
    ]);
    const events: string[] = [];
    const stream = client().messages.stream(params);
    stream.on('streamEvent', (e) => events.push(e.type));
    const second = await stream.finalMessage();
    expect(second.content).toEqual([
      expect.objectContaining({ type: 'text', text: 'You are Alice.' }),
    ]);
    expect(events).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(s.requests.at(-1)?.body.stream).toBe(true);
  });

  it('answers JSON without stream, accepts x-api-key or Bearer, and refuses a wrong key with 401', async () => {
    s.script([text('plain')]);
    const m = await client().messages.create(params);
    expect(m).toMatchObject({ type: 'message', role: 'assistant', stop_reason: 'end_turn' });
    expect(
      s.requests.at(-1)?.headers.authorization ?? s.requests.at(-1)?.headers['x-api-key'],
    ).toContain('sk-test');
    s.script([text('bearer')]);
    const viaToken = new Anthropic({
      authToken: 'sk-test',
      apiKey: null,
      baseURL: s.url,
      maxRetries: 0,
    });
    expect((await viaToken.messages.create(params)).content[0]).toMatchObject({ text: 'bearer' });
    await expect(client({ apiKey: 'wrong' }).messages.create(params)).rejects.toBeInstanceOf(
      Anthropic.AuthenticationError,
    );
  });

  it('sends 429 with retry-after, which the SDK honours when it retries', async () => {
    s.script([rateLimited(1), text('after')]);
    const before = s.requests.length;
    const m = await client({ maxRetries: 1 }).messages.create(params);
    expect(m.content[0]).toMatchObject({ text: 'after' });
    const [a, b] = s.requests.slice(before);
    expect(b!.at - a!.at).toBeGreaterThanOrEqual(950);
  });
});
