import type Anthropic from '@anthropic-ai/sdk';
import type { Logger } from 'pino';
import type { AgentStatusEvent } from '../../chat/types.ts';
import type { Config } from '../../config.ts';
import type { AgentRunData } from '../jobs.ts';
import type { OutboxRepository } from '../outbox.repository.ts';
import type { AgentRunsRepository } from './agent-runs.repository.ts';
import { RunFailure, refusalFailure } from './failures.ts';
import { type McpConnector, type McpSession, refusalCode, textOf } from './mcp-session.ts';
import { replyIdFor } from './reply-id.ts';

/** Publishes `agent.status` on the chat's WebSocket (through ChatEvents' pub/sub). */
export type StatusPublisher = (event: AgentStatusEvent) => Promise<void>;

/** Mints and discards the short-lived agent token a run acts with. */
export interface RunTokens {
  mintForRun(
    userId: string,
    agentName: string,
    seconds: number,
  ): Promise<{ token: string; tokenId: string }>;
  discardRunToken(userId: string, tokenId: string): Promise<void>;
}

/** Tools the model is offered: reading ones. The run itself posts the one reply. */
const MODEL_TOOLS_EXCLUDED = new Set(['post_message']);
const RUN_TOKEN_SECONDS = 15 * 60;

export interface AgentRunResult {
  outcome: 'replied' | 'already-replied' | 'failed';
  /** Set with `failed`. */
  replyId?: string;
  code?: string;
  /** Milliseconds per step, for the log line and the benchmark (numbers only). */
  timings?: Record<string, number>;
}

/** Named step durations of one run. */
class Stopwatch {
  private last = performance.now();
  readonly laps: Record<string, number> = {};
  lap(name: string): void {
    const now = performance.now();
    this.laps[name] = Math.round((this.laps[name] ?? 0) + (now - this.last));
    this.last = now;
  }
}

/**
 * One agent run: the mention's context read through the gateway as (author, agent), the model's
 * tool-use loop over the gateway's tools, one reply posted through `post_message` under an id
 * derived from the outbox row, then the row marked done. Safe to run twice: the second run finds
 * the reply (or the gateway folds its post into the first) and posts nothing new.
 */
export class AgentRunService {
  constructor(
    private readonly config: Config,
    private readonly repo: AgentRunsRepository,
    private readonly outbox: OutboxRepository,
    private readonly tokens: RunTokens,
    private readonly connect: McpConnector,
    private readonly model: Anthropic | undefined,
    private readonly publish: StatusPublisher,
    private readonly logger: Logger,
  ) {}

  status(
    runId: string,
    job: AgentRunData,
    status: AgentStatusEvent['status'],
    extra: Partial<AgentStatusEvent> = {},
  ): Promise<void> {
    return this.publish({
      type: 'agent.status',
      chatId: job.chatId,
      agentName: job.agentName,
      runId,
      messageId: job.messageId,
      status,
      ...extra,
      at: new Date().toISOString(),
    });
  }

  /** Closes the row as failed and tells the chat why (the processor then stops retrying). */
  async fail(runId: string, job: AgentRunData, failure: RunFailure): Promise<AgentRunResult> {
    await this.outbox.markDone(runId, 'failed', failure.code);
    await this.status(runId, job, 'failed', { code: failure.code, reason: failure.reason });
    return { outcome: 'failed', code: failure.code };
  }

  async run(runId: string, job: AgentRunData): Promise<AgentRunResult> {
    const trigger = await this.repo.trigger(job.messageId);
    if (!trigger || trigger.chat_id !== job.chatId || trigger.deleted_at)
      throw new RunFailure('message-gone');
    const replyId = replyIdFor(runId, trigger.created_at);
    if (await this.repo.replyExists(replyId)) return this.finish(runId, job, replyId, true);
    if (!this.model) throw new RunFailure('no-api-key');

    const clock = new Stopwatch();
    const { token, tokenId } = await this.tokens.mintForRun(
      job.userId,
      job.agentName,
      RUN_TOKEN_SECONDS,
    );
    clock.lap('mint');
    let mcp: McpSession | undefined;
    try {
      mcp = await this.connect(token);
      const tools = await mcp.listTools();
      clock.lap('connect');
      const context = await mcp.call('read_messages', {
        chatId: job.chatId,
        before: Number(trigger.seq) + 1,
        limit: this.config.anthropic.contextMessages,
      });
      clock.lap('context');
      // No grant (or no permission): stop before any model call.
      if (context.isError) throw refusalFailure(refusalCode(context));
      const messages = (context.structuredContent?.messages ?? []) as {
        id: string;
        status: string;
      }[];
      const mention = messages.find((m) => m.id === job.messageId);
      if (mention?.status === 'withheld') throw new RunFailure('withheld');
      if (mention?.status !== 'ok') throw new RunFailure('no-grant');
      if (!tools.some((t) => t.name === 'post_message')) throw new RunFailure('no-write');

      await this.status(runId, job, 'thinking');
      // Loaded here, not at the top: a serve node never loads the Anthropic SDK.
      const { runModel } = await import('./model.ts');
      const answer = await runModel(this.model, this.config, mcp, clock, {
        system: systemPrompt(job),
        prompt: `Recent messages of chat ${job.chatId} (oldest first; "you" is ${job.agentName}):\n\n${textOf(context)}\n\nAnswer message ${job.messageId}, which mentioned you.`,
        tools: tools.filter((t) => !MODEL_TOOLS_EXCLUDED.has(t.name)),
        onTool: (name) => this.status(runId, job, 'tool', { tool: name }),
      });

      const posted = await mcp.call('post_message', {
        chatId: job.chatId,
        text: answer,
        replyTo: job.messageId,
        messageId: replyId,
      });
      if (posted.isError) throw refusalFailure(refusalCode(posted));
      clock.lap('post');
      return { ...(await this.finish(runId, job, replyId, false)), timings: clock.laps };
    } finally {
      await mcp?.close();
      await this.tokens.discardRunToken(job.userId, tokenId).catch((err: Error) => {
        this.logger.warn({ err: { message: err.message }, runId }, 'could not discard run token');
      });
    }
  }

  private async finish(runId: string, job: AgentRunData, replyId: string, again: boolean) {
    await this.outbox.markDone(runId, 'done', null);
    await this.status(runId, job, 'done', { replyId });
    return { outcome: again ? ('already-replied' as const) : ('replied' as const), replyId };
  }
}

function systemPrompt(job: AgentRunData): string {
  return [
    `You are ${job.agentName}, an AI assistant in Vutler, an end-to-end-encrypted team chat.`,
    'A person mentioned you; the recent messages are below. You may call the tools to read more of the chats you were granted.',
    'Your final text answer is posted to the chat as your reply, so write it for the people there. Be concise.',
  ].join(' ');
}
