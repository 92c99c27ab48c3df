/**
 * The chat's agent features: the live state of the runs a mention started, the hint when an
 * agent has no grant here (with the way to the Agents page), and the gateway-key warning.
 */
import { useEffect, useState } from 'preact/hooks';
import type { ChatState } from '../lib/chats.ts';
import { type AgentRun, agentsLink, describeRun, GRANT_FAILURES } from '../lib/pure.ts';
import { client } from '../lib/session.ts';

function RunLine({ run, chatId, mine }: { run: AgentRun; chatId: string; mine: boolean }) {
  const grantProblem = run.status === 'failed' && GRANT_FAILURES.has(run.code ?? '');
  return (
    <div
      class={`agent-run agent-run-${run.status}`}
      role="status"
      data-run-status={run.status}
      data-agent={run.agentName}
    >
      <span class="agent-run-state">
        {run.status === 'failed' ? '⚠ ' : run.status === 'done' ? '✓ ' : ''}
        {describeRun(run)}
      </span>
      {run.status !== 'queued' && run.tools.length > 0 && (
        <span class="small muted"> · tools used: {[...new Set(run.tools)].join(', ')}</span>
      )}
      {grantProblem &&
        (mine ? (
          <p class="hint small">
            @{run.agentName} may not {run.code === 'no-write' ? 'post in' : 'read'} this chat.{' '}
            <a href={agentsLink(chatId, run.agentName)}>Grant it on the Agents page</a>
          </p>
        ) : (
          <p class="hint small">
            The person who mentioned @{run.agentName} has not granted it this chat.
          </p>
        ))}
    </div>
  );
}

export function AgentRuns(props: { runs: AgentRun[]; chatId: string; authorId: string | null }) {
  if (props.runs.length === 0) return null;
  const mine = props.authorId === client.user?.id;
  return (
    <div class="agent-runs">
      {props.runs.map((r) => (
        <RunLine key={r.runId} run={r} chatId={props.chatId} mine={mine} />
      ))}
    </div>
  );
}

export function GatewayWarning({ problem }: { problem: string }) {
  if (!problem) return null;
  return (
    <p class="warning" role="alert">
      {problem}
    </p>
  );
}

/**
 * The agents this person granted this chat to (undefined while unknown). Asked again when the
 * chat's epoch moves (a revoke rotates it) or a run fails for want of a grant.
 */
export function useChatGrants(chatId: string, state: ChatState): Set<string> | undefined {
  const [granted, setGranted] = useState<Set<string> | undefined>(undefined);
  const epoch = state.chats[chatId]?.chat.currentEpoch ?? 0;
  const failures = Object.values(state.runs).filter(
    (r) => r.chatId === chatId && r.status === 'failed',
  ).length;
  useEffect(() => {
    let live = true;
    client.agents
      .grants()
      .then((gs) => {
        const now = Date.now();
        const names = gs
          .filter((g) => g.resourceType === 'chat' && g.resourceId === chatId)
          .filter((g) => !g.expiresAt || Date.parse(g.expiresAt) > now)
          // A grant without the current epoch's key cannot read what is written now.
          .filter((g) => g.epochs.includes(epoch))
          .map((g) => g.agentName);
        if (live) setGranted(new Set(names));
      })
      .catch(() => {
        if (live) setGranted(undefined);
      });
    return () => {
      live = false;
    };
  }, [chatId, epoch, failures]);
  return granted;
}
