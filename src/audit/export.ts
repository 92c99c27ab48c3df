/**
 * The NDJSON audit export (`GET /api/audit/export`) and its offline verifier. One JSON object
 * per line, in this order:
 *   {"type":"header","format":"vutler-audit-export","version":1,"userId":…,"gatewayEd25519":b64,"exportedAt":…}
 *   {"type":"row", …ChainRowFields, "chainIndex": n|null, "prevHash": b64|null, "rowHash": b64|null}
 *        linked rows by chain index, then pending ones
 *   {"type":"checkpoint","chainIndex":n,"headHash":b64,"signature":b64,"createdAt":…}
 * Verify it with the gateway's public key obtained independently (the device's pinned key, or
 * the operator's): the header's key must equal it, and only the given key is used to check.
 */
import { z } from 'zod';
import { base64Decode, constantTimeEqual } from '../crypto/bytes.ts';
import { type ChainRow, type ChainVerdict, type Checkpoint, verifyChain } from './chain.ts';

export const EXPORT_FORMAT = 'vutler-audit-export';

const b64 = z.string().max(200);
const header = z.object({
  type: z.literal('header'),
  format: z.literal(EXPORT_FORMAT),
  version: z.literal(1),
  userId: z.string(),
  gatewayEd25519: b64,
  exportedAt: z.string(),
});
const row = z.object({
  type: z.literal('row'),
  id: z.string(),
  userId: z.string(),
  agentName: z.string(),
  resourceType: z.string(),
  resourceId: z.string(),
  toolName: z.string().nullable(),
  requestId: z.string().nullable(),
  outcome: z.string().nullable(),
  reason: z.string().nullable(),
  decryptionSuccess: z.boolean(),
  itemCount: z.number().int(),
  ipAddress: z.string().nullable(),
  userAgent: z.string().nullable(),
  decryptedAt: z.string(),
  chainIndex: z.number().int().min(0).nullable(),
  prevHash: b64.nullable(),
  rowHash: b64.nullable(),
});
const checkpoint = z.object({
  type: z.literal('checkpoint'),
  chainIndex: z.number().int().min(0),
  headHash: b64,
  signature: b64,
  createdAt: z.string(),
});
const line = z.discriminatedUnion('type', [header, row, checkpoint]);
export type ExportLine = z.infer<typeof line>;

export interface ExportVerdict extends ChainVerdict {
  userId: string;
  rows: number;
}

/** Parses and verifies an export; throws on a malformed file (not the same as a broken chain). */
export async function verifyAuditExport(
  ndjson: string,
  gatewayEd25519Public: Uint8Array,
): Promise<ExportVerdict> {
  const lines = ndjson.split('\n').filter((l) => l.trim() !== '');
  const parsed = lines.map((l, i) => {
    const r = line.safeParse(JSON.parse(l));
    if (!r.success) throw new Error(`line ${i + 1} is not a valid export line`);
    return r.data;
  });
  const head = parsed[0];
  if (head?.type !== 'header') throw new Error('the export does not start with its header');
  const headerKey = base64Decode(head.gatewayEd25519, 32);
  if (!constantTimeEqual(headerKey, gatewayEd25519Public)) {
    throw new Error('the export names another gateway key than the one given');
  }
  const rows: ChainRow[] = [];
  const checkpoints: Checkpoint[] = [];
  for (const l of parsed.slice(1)) {
    if (l.type === 'header') throw new Error('a second header');
    if (l.type === 'row') {
      if (l.userId.toLowerCase() !== head.userId.toLowerCase())
        throw new Error(`row ${l.id} belongs to another user`);
      const { type: _t, prevHash, rowHash, ...fields } = l;
      rows.push({
        ...fields,
        prevHash: prevHash === null ? null : base64Decode(prevHash),
        rowHash: rowHash === null ? null : base64Decode(rowHash),
      });
    } else {
      checkpoints.push({
        userId: head.userId,
        chainIndex: l.chainIndex,
        headHash: base64Decode(l.headHash),
        signature: base64Decode(l.signature),
      });
    }
  }
  const order = (r: ChainRow) => (r.chainIndex === null ? Number.MAX_SAFE_INTEGER : r.chainIndex);
  rows.sort((a, b) => order(a) - order(b));
  const verdict = await verifyChain({ rows, checkpoints, gatewayEd25519Public });
  return { ...verdict, userId: head.userId, rows: rows.length };
}
