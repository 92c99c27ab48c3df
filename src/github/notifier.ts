import type { AgentTokenService } from '../auth/agent-tokens.service.ts';
import type { McpConnector } from '../workers/agent-runs/mcp-session.ts';
import { replyIdFor } from '../workers/agent-runs/reply-id.ts';
import type { DeployNotifier } from './deploys.service.ts';

/** The built-in agent deploy notes are posted as. */
export const GITHUB_AGENT = 'github';
const NOTE_TOKEN_SECONDS = 120;

/**
 * Posts through the gateway's own `post_message`, as (repository owner, `github` agent): the
 * owner's permission row and chat grant decide, the gateway encrypts and signs, the call is rate
 * limited and audited like any agent's. The message id derives from the deployment, so a retried
 * note is the same message.
 */
export class GatewayDeployNotifier implements DeployNotifier {
  constructor(
    private readonly tokens: Pick<AgentTokenService, 'mintForRun' | 'discardRunToken'>,
    private readonly connect: McpConnector,
  ) {}

  async note(input: {
    ownerId: string;
    chatId: string;
    deploymentId: string;
    createdAt: Date;
    text: string;
  }): Promise<'posted' | 'refused'> {
    const { token, tokenId } = await this.tokens.mintForRun(
      input.ownerId,
      GITHUB_AGENT,
      NOTE_TOKEN_SECONDS,
    );
    const mcp = await this.connect(token);
    try {
      const res = await mcp.call('post_message', {
        chatId: input.chatId,
        text: input.text,
        messageId: replyIdFor(`deploy-note:${input.deploymentId}`, input.createdAt),
      });
      return res.isError ? 'refused' : 'posted';
    } finally {
      await mcp.close();
      await this.tokens.discardRunToken(input.ownerId, tokenId).catch(() => undefined);
    }
  }
}
