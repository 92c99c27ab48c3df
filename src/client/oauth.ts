import type { ClientContext } from './context.ts';

/** An MCP client a person connected by OAuth consent (src/oauth). */
export interface ConnectedClientView {
  id: string;
  clientId: string;
  clientName: string;
  agentName: string;
  redirectHost: string;
  resource: string;
  createdAt: string;
  lastUsedAt: string | null;
}

/** Connected MCP clients, for the Agents page: list them, disconnect one (revokes its tokens). */
export class ConnectedClientsClient {
  constructor(private readonly c: Pick<ClientContext, 'http'>) {}

  async list(): Promise<ConnectedClientView[]> {
    return (await this.c.http.request<{ clients: ConnectedClientView[] }>('/api/oauth/clients'))
      .clients;
  }

  async disconnect(id: string): Promise<void> {
    await this.c.http.request(`/api/oauth/clients/${encodeURIComponent(id)}`, { method: 'DELETE' });
  }
}
