/**
 * The consent route (`#/consent?<the /oauth/authorize query>`): who asks, and the person's
 * answer. The query is sent back to the server with each call and checked there again; the page
 * keeps nothing of it.
 */
import { VutlerApiError } from '../../client/index.ts';
import { client } from './session.ts';

/** OAuth answers `{ error, error_description }`, not problem+json: show the description. */
async function oauthCall<T>(path: string, body: unknown): Promise<T> {
  try {
    return await client.http.request<T>(path, { body });
  } catch (err) {
    const d = err instanceof VutlerApiError ? err.body.error_description : undefined;
    if (typeof d === 'string') throw new Error(`This connection request cannot be completed: ${d}`);
    throw err;
  }
}

export interface ConsentRequest {
  clientId: string;
  clientName: string;
  redirectHost: string;
  resource: string;
  suggestedAgent: string;
}

export function requestOf(params: URLSearchParams): Record<string, string> {
  return Object.fromEntries(params.entries());
}

export function describeRequest(request: Record<string, string>): Promise<ConsentRequest> {
  return oauthCall<ConsentRequest>('/api/oauth/request', { request });
}

/** Records the decision and returns where the browser goes next (the client's redirect URI). */
export async function decide(
  request: Record<string, string>,
  decision: 'approve' | 'deny',
  agentName?: string,
): Promise<string> {
  const res = await oauthCall<{ redirectTo: string }>('/api/oauth/consent', {
    request,
    decision,
    ...(decision === 'approve' ? { agentName } : {}),
  });
  return res.redirectTo;
}
