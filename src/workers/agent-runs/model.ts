import Anthropic from '@anthropic-ai/sdk';
import type { Tool as McpTool } from '@modelcontextprotocol/sdk/types.js';
import type { Config } from '../../config.ts';
import { RetryLater, RunFailure } from './failures.ts';
import type { McpSession } from './mcp-session.ts';
import { textOf } from './mcp-session.ts';

/** The Anthropic client the worker uses, or undefined when no key is configured. */
export function anthropicClient(config: Config): Anthropic | undefined {
  const a = config.anthropic;
  if (!a.apiKey) return undefined;
  // apiKey and baseURL always passed, so the SDK reads neither the environment nor profiles.
  return new Anthropic({
    apiKey: a.apiKey,
    baseURL: a.baseUrl,
    maxRetries: a.maxRetries,
    timeout: a.timeoutMs,
  });
}

function retryAfterMs(headers: Headers | undefined): number | undefined {
  const ms = Number(headers?.get('retry-after-ms'));
  if (Number.isFinite(ms) && ms > 0) return ms;
  const s = headers?.get('retry-after');
  if (!s) return undefined;
  const secs = Number(s);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const at = Date.parse(s);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

/**
 * Rate limits, overload (529), server errors and network failures may pass: a later attempt;
 * any other 4xx will not, so it ends the run. Never the error's message (it may quote input).
 */
export function classifyModelError(err: unknown): Error {
  if (err instanceof Anthropic.APIError) {
    const status = err.status;
    if (status === undefined || status === 408 || status === 409 || status === 429 || status >= 500)
      return new RetryLater(
        `model service answered ${status ?? 'no response'}`,
        retryAfterMs(err.headers),
      );
    return new RunFailure('model-rejected', `HTTP ${status}`);
  }
  return err as Error;
}

export interface ModelRun {
  system: string;
  prompt: string;
  tools: McpTool[];
  onTool: (name: string) => Promise<void>;
}

/**
 * The bounded tool-use loop: the model may ask for the gateway's tools on up to
 * `maxToolIterations` turns; the turn after that must answer (tool_choice none).
 * Returns the answer's text.
 */
export async function runModel(
  client: Anthropic,
  config: Config,
  mcp: McpSession,
  clock: { lap(name: string): void },
  run: ModelRun,
): Promise<string> {
  const a = config.anthropic;
  const allowed = new Set(run.tools.map((t) => t.name));
  const tools: Anthropic.Tool[] = run.tools.map((t) => {
    const { $schema: _drop, ...schema } = t.inputSchema as Record<string, unknown>;
    return {
      name: t.name,
      description: t.description ?? t.title ?? t.name,
      input_schema: schema as Anthropic.Tool['input_schema'],
    };
  });
  const messages: Anthropic.MessageParam[] = [{ role: 'user', content: run.prompt }];
  for (let turn = 0; ; turn++) {
    const last = turn >= a.maxToolIterations;
    let reply: Anthropic.Message;
    try {
      reply = await client.messages
        .stream({
          model: a.model,
          max_tokens: a.maxTokens,
          system: run.system,
          messages,
          ...(tools.length
            ? { tools, tool_choice: last ? { type: 'none' } : { type: 'auto' } }
            : {}),
        })
        .finalMessage();
    } catch (err) {
      throw classifyModelError(err);
    }
    clock.lap('model');
    if (reply.stop_reason === 'refusal') throw new RunFailure('model-refused');
    const uses = reply.content.filter((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use');
    if (reply.stop_reason === 'tool_use' && uses.length && !last) {
      messages.push({ role: 'assistant', content: reply.content as Anthropic.ContentBlockParam[] });
      const results: Anthropic.ToolResultBlockParam[] = [];
      for (const use of uses) {
        await run.onTool(use.name);
        if (!allowed.has(use.name)) {
          results.push({
            type: 'tool_result',
            tool_use_id: use.id,
            is_error: true,
            content: `Unknown tool ${use.name}.`,
          });
          continue;
        }
        const r = await mcp.call(use.name, (use.input ?? {}) as Record<string, unknown>);
        results.push({
          type: 'tool_result',
          tool_use_id: use.id,
          is_error: r.isError === true,
          content: textOf(r) || JSON.stringify(r.structuredContent ?? {}),
        });
      }
      messages.push({ role: 'user', content: results });
      clock.lap('tools');
      continue;
    }
    const text = reply.content
      .filter((b): b is Anthropic.TextBlock => b.type === 'text')
      .map((b) => b.text)
      .join('')
      .trim();
    if (!text) throw new RunFailure('no-answer');
    return text.slice(0, 16_000);
  }
}
