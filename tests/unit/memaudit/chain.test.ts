import { describe, expect, it } from 'vitest';
import {
  type ChainRow,
  type ChainRowFields,
  type Checkpoint,
  linkRows,
  signCheckpoint,
  verifyChain,
} from '../../../src/audit/chain.ts';
import { verifyAuditExport } from '../../../src/audit/export.ts';
import { base64Encode } from '../../../src/crypto/bytes.ts';
import { generateGatewayKeys } from '../../../src/crypto/grants.ts';

const USER = '0190c6c4-8a7e-7a2b-9c3d-1e2f3a4b5c6d';
const gw = (await generateGatewayKeys()).keys;
const other = (await generateGatewayKeys()).keys;

function fields(i: number): ChainRowFields {
  return {
    id: `0190c6c4-8a7e-7a2b-9c3d-00000000000${i}`,
    userId: USER,
    agentName: 'claude',
    resourceType: 'chat',
    resourceId: '0190c6c4-8a7e-7a2b-9c3d-aaaaaaaaaaaa',
    toolName: 'read_messages',
    requestId: `req-${i}`,
    outcome: 'allowed',
    reason: null,
    decryptionSuccess: true,
    itemCount: i,
    ipAddress: '127.0.0.1',
    userAgent: null,
    decryptedAt: `2026-12-01T08:00:0${i}.123456`,
  };
}

async function sealed(n: number, checkpointAt: number[], key = gw) {
  const pending = Array.from({ length: n }, (_, i) => fields(i));
  const links = await linkRows(null, pending);
  const rows: ChainRow[] = pending.map((f, i) => ({
    ...f,
    chainIndex: links[i]!.chainIndex,
    prevHash: links[i]!.prevHash,
    rowHash: links[i]!.rowHash,
  }));
  const checkpoints: Checkpoint[] = [];
  for (const i of checkpointAt) {
    const head = links[i]!.rowHash;
    checkpoints.push({
      userId: USER,
      chainIndex: i,
      headHash: head,
      signature: await signCheckpoint(key.ed25519.privateKey, USER, i, head),
    });
  }
  return { rows, checkpoints };
}

const verify = (rows: ChainRow[], checkpoints: Checkpoint[], fromIndex?: number) =>
  verifyChain({ rows, checkpoints, gatewayEd25519Public: gw.ed25519.publicKey, fromIndex });

describe('audit chain', () => {
  it('verifies an untouched chain; rows past the last checkpoint are pending', async () => {
    const { rows, checkpoints } = await sealed(6, [2, 4]);
    const v = await verify(rows, checkpoints);
    expect(v.ok).toBe(true);
    expect(v.sealedThrough).toBe(4);
    expect(rows.map((r) => v.states.get(r.id))).toEqual([
      'sealed',
      'sealed',
      'sealed',
      'sealed',
      'sealed',
      'pending',
    ]);
  });

  it('names an edited row, and only that row is broken', async () => {
    const { rows, checkpoints } = await sealed(5, [4]);
    rows[3] = { ...rows[3]!, outcome: 'denied' };
    const v = await verify(rows, checkpoints);
    expect(v.firstBreak).toEqual({ rowId: rows[3]!.id, chainIndex: 3, reason: 'row-edited' });
    expect(v.states.get(rows[3]!.id)).toBe('broken');
    expect(v.states.get(rows[2]!.id)).toBe('sealed');
  });

  it('names a row rewritten with a recomputed hash by the broken link after it', async () => {
    const { rows, checkpoints } = await sealed(4, [3]);
    const [relinked] = await linkRows({ chainIndex: 0, rowHash: rows[0]!.rowHash! }, [
      { ...rows[1]!, agentName: 'mallory' },
    ]);
    rows[1] = { ...rows[1]!, agentName: 'mallory', rowHash: relinked!.rowHash };
    const v = await verify(rows, checkpoints);
    expect(v.firstBreak).toMatchObject({ rowId: rows[1]!.id, reason: 'broken-link' });
  });

  it('catches a rewritten tail by its checkpoint, deletions, reordering and foreign signatures', async () => {
    const base = await sealed(4, [3]);
    // Rewrite from row 2 to the end, hashes and all: only the signed head can tell.
    const tail = await linkRows({ chainIndex: 1, rowHash: base.rows[1]!.rowHash! }, [
      { ...base.rows[2]!, itemCount: 99 },
      base.rows[3]!,
    ]);
    const rewritten = base.rows.map((r, i) =>
      i < 2
        ? r
        : {
            ...r,
            ...(i === 2 ? { itemCount: 99 } : {}),
            prevHash: tail[i - 2]!.prevHash,
            rowHash: tail[i - 2]!.rowHash,
          },
    );
    expect((await verify(rewritten, base.checkpoints)).firstBreak?.reason).toBe(
      'checkpoint-mismatch',
    );

    const deleted = await verify([base.rows[0]!, base.rows[1]!, base.rows[3]!], base.checkpoints);
    expect(deleted.firstBreak).toEqual({ rowId: null, chainIndex: 2, reason: 'missing-row' });
    const truncated = await verify(base.rows.slice(0, 3), base.checkpoints);
    expect(truncated.firstBreak).toMatchObject({ reason: 'missing-row', chainIndex: 3 });

    const swapped = [
      base.rows[0]!,
      { ...base.rows[2]!, chainIndex: 1 },
      { ...base.rows[1]!, chainIndex: 2 },
      base.rows[3]!,
    ];
    expect((await verify(swapped, base.checkpoints)).ok).toBe(false);

    const foreign = await sealed(4, [3], other);
    const f = await verify(foreign.rows, foreign.checkpoints);
    expect(f.firstBreak).toMatchObject({ reason: 'bad-signature', rowId: foreign.rows[0]!.id });
    expect(f.sealedThrough).toBeNull();
  });

  it('verifies a segment from the middle against the checkpoint that covers it', async () => {
    const { rows, checkpoints } = await sealed(6, [2, 5]);
    const v = await verify(rows.slice(3), [checkpoints[1]!], 3);
    expect(v.ok).toBe(true);
    expect(v.states.get(rows[3]!.id)).toBe('sealed');
  });

  it('round-trips the NDJSON export through the offline verifier', async () => {
    const { rows, checkpoints } = await sealed(3, [2]);
    const b64 = (b: Uint8Array | null) => (b ? base64Encode(b) : null);
    const lines = [
      {
        type: 'header',
        format: 'vutler-audit-export',
        version: 1,
        userId: USER,
        gatewayEd25519: base64Encode(gw.ed25519.publicKey),
        exportedAt: new Date().toISOString(),
      },
      ...rows.map((r) => ({
        type: 'row',
        ...r,
        prevHash: b64(r.prevHash),
        rowHash: b64(r.rowHash),
      })),
      ...checkpoints.map((c) => ({
        type: 'checkpoint',
        chainIndex: c.chainIndex,
        headHash: b64(c.headHash),
        signature: b64(c.signature),
        createdAt: new Date().toISOString(),
      })),
    ];
    const text = lines.map((l) => JSON.stringify(l)).join('\n');
    const ok = await verifyAuditExport(text, gw.ed25519.publicKey);
    expect(ok).toMatchObject({ ok: true, rows: 3, sealedThrough: 2 });
    await expect(verifyAuditExport(text, other.ed25519.publicKey)).rejects.toThrow(
      /another gateway key/,
    );
    await expect(verifyAuditExport('{"type":"row"}', gw.ed25519.publicKey)).rejects.toThrow();
    const tampered = text.replace('"itemCount":1', '"itemCount":7');
    expect((await verifyAuditExport(tampered, gw.ed25519.publicKey)).firstBreak?.rowId).toBe(
      rows[1]!.id,
    );
  });
});
