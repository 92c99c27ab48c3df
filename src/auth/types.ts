/** Auth wire types shared by the server and the browser-safe SDK (types only). */

/** An agent token as listed to its owner: never the token itself. */
export interface AgentTokenView {
  id: string;
  agentName: string;
  label: string | null;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
  lastUsedAt: string | null;
  status: 'active' | 'expired' | 'revoked';
}
