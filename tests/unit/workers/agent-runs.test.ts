import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { isUuidV7, uuidv7Timestamp } from '../../../src/crypto/uuid.ts';
import { retryDelayMs } from '../../../src/workers/agent-runs/agent-runs.worker.ts';
import {
  RetryLater,
  RunFailure,
  refusalFailure,
} from '../../../src/workers/agent-runs/failures.ts';
import { classifyModelError } from '../../../src/workers/agent-runs/model.ts';
import { replyIdFor } from '../../../src/workers/agent-runs/reply-id.ts';
import { BadJobError, parseJob } from '../../../src/workers/jobs.ts';

const ids = {
  chatId: '0190a5b4-7c3e-7d10-8a2b-1c2d3e4f5a6b',
  messageId: '0190a5b4-7c3e-7d10-8a2b-1c2d3e4f5a6c',
  userId: '6f1c2a4e-5b3d-4e8f-9a1b-2c3d4e5f6a7b',
};

describe('replyIdFor', () => {
  it('is the same UUIDv7 for the same run, another for another run, right after the trigger', () => {
    const at = new Date('2026-12-01T08:00:00.123Z');
    const a = replyIdFor('11111111-1111-4111-8111-111111111111', at);
    expect(isUuidV7(a)).toBe(true);
    expect(replyIdFor('11111111-1111-4111-8111-111111111111', at)).toBe(a);
    expect(replyIdFor('22222222-2222-4222-8222-222222222222', at)).not.toBe(a);
    expect(uuidv7Timestamp(a)).toBe(at.getTime() + 1);
  });
});

describe('parseJob', () => {
  it('accepts an agent-run of ids and refuses extra fields, other shapes and unknown jobs', () => {
    expect(parseJob('agent-runs', 'agent-run', 'x', { ...ids, agentName: 'claude' }).data).toEqual({
      ...ids,
      agentName: 'claude',
    });
    expect(() =>
      parseJob('agent-runs', 'agent-run', 'x', { ...ids, agentName: 'claude', text: 'hi' }),
    ).toThrow(BadJobError);
    expect(() =>
      parseJob('agent-runs', 'agent-run', 'x', { ...ids, agentName: 'Bad Name' }),
    ).toThrow(BadJobError);
    expect(() => parseJob('deploys', 'deploy', 'x', {})).toThrow(BadJobError);
  });
});

describe('model errors and retries', () => {
  const apiError = (status: number, headers: Record<string, string> = {}) =>
    Anthropic.APIError.generate(
      status,
      { type: 'error', error: { type: 'x', message: 'secret prompt echoed' } },
      undefined,
      new Headers(headers),
    );

  it('retries 429, 529, 5xx and network errors, honouring retry-after; ends the run on other 4xx', () => {
    const r429 = classifyModelError(apiError(429, { 'retry-after': '7' }));
    expect(r429).toBeInstanceOf(RetryLater);
    expect((r429 as RetryLater).retryAfterMs).toBe(7000);
    expect(classifyModelError(apiError(529))).toBeInstanceOf(RetryLater);
    expect(classifyModelError(apiError(503))).toBeInstanceOf(RetryLater);
    expect(
      classifyModelError(new Anthropic.APIConnectionError({ message: 'down' })),
    ).toBeInstanceOf(RetryLater);
    const r400 = classifyModelError(apiError(400));
    expect(r400).toBeInstanceOf(RunFailure);
    expect((r400 as RunFailure).code).toBe('model-rejected');
    // What the API said is never carried into the stored failure.
    expect(r400.message).not.toContain('secret prompt');
    expect(r429.message).not.toContain('secret prompt');
  });

  it('backs off exponentially, never sooner than retry-after', () => {
    expect(retryDelayMs(1, new Error('x'))).toBe(1000);
    expect(retryDelayMs(3, new Error('x'))).toBe(4000);
    expect(retryDelayMs(20, new Error('x'))).toBe(60_000);
    expect(retryDelayMs(1, new RetryLater('429', 7000))).toBe(7000);
    expect(retryDelayMs(4, new RetryLater('429', 10))).toBe(8000);
  });

  it('maps gateway refusals to what people are told, transient ones to a retry', () => {
    expect((refusalFailure('not-found') as RunFailure).reason).toBe('no grant for this chat');
    expect((refusalFailure('no-grant') as RunFailure).code).toBe('no-grant');
    expect((refusalFailure('grant-expired') as RunFailure).code).toBe('grant-expired');
    expect((refusalFailure('write-not-allowed') as RunFailure).code).toBe('no-write');
    expect(refusalFailure('rate-limited')).toBeInstanceOf(RetryLater);
    expect(refusalFailure('audit-unavailable')).toBeInstanceOf(RetryLater);
  });
});
