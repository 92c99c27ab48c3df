/**
 * The audit log's export, verified on this device: the NDJSON from `GET /api/audit/export` is
 * checked against the gateway key this device pinned (never a key the server sends with it).
 */
import { type ExportVerdict, verifyAuditExport } from '../audit/export.ts';
import type { PinnedGateway } from './agents.ts';
import type { Http } from './http.ts';

export type { ExportVerdict };

export class AuditClient {
  constructor(
    private readonly http: Http,
    /** The gateway keys this device pinned (`AgentsClient.gateway`). */
    private readonly gateway: () => Promise<PinnedGateway>,
  ) {}

  /** The raw export (keep it: a later export can be compared against it offline). */
  export(): Promise<string> {
    return this.http.requestText('/api/audit/export');
  }

  /** Downloads the export and verifies chain and checkpoints with the pinned gateway key. */
  async verify(exported?: string): Promise<ExportVerdict> {
    const text = exported ?? (await this.export());
    const gw = await this.gateway();
    return verifyAuditExport(text, gw.ed25519PublicKey);
  }
}
