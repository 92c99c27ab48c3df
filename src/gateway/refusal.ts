/**
 * A tool call the agent can recover from (ask for less, wait, ask the owner): becomes an MCP
 * result with `isError: true`, the message and the hint. Never carries content or keys.
 */
export class ToolRefusal extends Error {
  override name = 'ToolRefusal';
  constructor(
    message: string,
    readonly hint: string,
    readonly code: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}
