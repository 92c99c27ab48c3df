import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.ts';
import { refusalOf } from '../../../src/gateway/access.ts';
import { loadGatewayKeys } from '../../../src/gateway/keys.ts';
import { withheldFrom } from '../../../src/gateway/messages.ts';
import { conditionsSchema, withinHours } from '../../../src/gateway/permissions.ts';
import type { PermissionView } from '../../../src/gateway/types.ts';

const row = (over: Partial<PermissionView> = {}): PermissionView => ({
  id: 'p',
  agentName: 'claude',
  resourceType: 'chat',
  accessLevel: 'decrypt_ephemeral',
  conditions: {},
  createdAt: '',
  updatedAt: '',
  ...over,
});
const read = { resourceType: 'chat' as const, level: 'decrypt_ephemeral' as const };
const now = new Date('2026-12-01T10:30:00Z');

describe('refusalOf (the permission row part of the one check)', () => {
  it('denies by default and by level', () => {
    expect(refusalOf(undefined, read, now)?.reason).toBe('no-permission');
    expect(refusalOf(row({ accessLevel: 'denied' }), read, now)?.reason).toBe('no-permission');
    expect(refusalOf(row({ accessLevel: 'metadata' }), read, now)?.reason).toBe(
      'insufficient-level',
    );
    expect(
      refusalOf(row({ accessLevel: 'metadata' }), { ...read, level: 'metadata' }, now),
    ).toBeUndefined();
    expect(refusalOf(row(), read, now)).toBeUndefined();
  });

  it('applies expiry, hours, writing and item limits', () => {
    const expired = row({ conditions: { expires_at: '2026-12-01T10:29:59Z' } });
    expect(refusalOf(expired, read, now)?.reason).toBe('expired');
    expect(
      refusalOf(row({ conditions: { expires_at: '2026-12-01T10:30:01Z' } }), read, now),
    ).toBeUndefined();
    expect(
      refusalOf(row({ conditions: { hours: { start: 11, end: 12 } } }), read, now)?.reason,
    ).toBe('outside-hours');
    expect(refusalOf(row(), { ...read, write: true }, now)?.reason).toBe('write-not-allowed');
    expect(
      refusalOf(row({ conditions: { allow_write: true } }), { ...read, write: true }, now),
    ).toBeUndefined();
    const capped = row({ conditions: { max_items_per_call: 10 } });
    expect(refusalOf(capped, { ...read, items: 11 }, now)?.reason).toBe('over-max-items');
    expect(refusalOf(capped, { ...read, items: 10 }, now)).toBeUndefined();
  });
});

describe('withinHours', () => {
  it('handles plain and midnight-wrapping windows, end exclusive', () => {
    const at = (h: number) => new Date(Date.UTC(2026, 0, 1, h, 15));
    expect(withinHours({ start: 9, end: 17 }, at(9))).toBe(true);
    expect(withinHours({ start: 9, end: 17 }, at(17))).toBe(false);
    expect(withinHours({ start: 22, end: 6 }, at(23))).toBe(true);
    expect(withinHours({ start: 22, end: 6 }, at(5))).toBe(true);
    expect(withinHours({ start: 22, end: 6 }, at(6))).toBe(false);
    expect(withinHours(undefined, at(3))).toBe(true);
  });
});

describe('conditionsSchema', () => {
  it('accepts the documented conditions and refuses anything else', () => {
    expect(
      conditionsSchema.safeParse({
        resource_ids: ['0190d5c2-0000-7000-8000-000000000001'],
        expires_at: '2027-01-01T00:00:00Z',
        max_items_per_call: 20,
        allow_write: true,
        hours: { start: 8, end: 18 },
      }).success,
    ).toBe(true);
    for (const bad of [
      { unknown: 1 },
      { resource_ids: ['x'] },
      { hours: { start: 8, end: 8 } },
      { hours: { start: 25, end: 3 } },
      { max_items_per_call: 0 },
      { expires_at: 'tomorrow' },
      { allow_write: 'yes' },
    ]) {
      expect(conditionsSchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });
});

describe('withheldFrom (per-message agent policy)', () => {
  it('reads unknown policies as deny', () => {
    expect(withheldFrom({}, 'claude')).toBe(false);
    expect(withheldFrom({ agents: 'allow' }, 'claude')).toBe(false);
    expect(withheldFrom({ agents: 'deny' }, 'claude')).toBe(true);
    expect(withheldFrom({ agents: ['claude'] }, 'claude')).toBe(false);
    expect(withheldFrom({ agents: ['other'] }, 'claude')).toBe(true);
    expect(withheldFrom({ agents: 'maybe' }, 'claude')).toBe(true);
    expect(withheldFrom('deny', 'claude')).toBe(true);
  });
});

describe('loadGatewayKeys', () => {
  it('generates the key file once with mode 0600, then reads the same keys back', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vutler-gw-'));
    const config = loadConfig({ VUTLER_DATA_DIR: dir });
    const first = await loadGatewayKeys(config);
    expect(first.source).toBe('generated');
    expect(statSync(config.gateway.keyFile).mode & 0o777).toBe(0o600);
    const [a, b] = await Promise.all([loadGatewayKeys(config), loadGatewayKeys(config)]);
    expect(a.source).toBe('file');
    expect(a.bundle).toEqual(first.bundle);
    expect(b.bundle).toEqual(first.bundle);
    const line = readFileSync(config.gateway.keyFile, 'utf8').trim();
    const fromEnv = await loadGatewayKeys(
      loadConfig({ VUTLER_DATA_DIR: dir, VUTLER_GATEWAY_KEY: line }),
    );
    expect(fromEnv.source).toBe('env');
    expect(fromEnv.bundle).toEqual(first.bundle);
  });

  it('tightens a key file others could read, and refuses a corrupt one', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vutler-gw-'));
    const config = loadConfig({ VUTLER_DATA_DIR: dir });
    const made = await loadGatewayKeys(config);
    const line = readFileSync(config.gateway.keyFile, 'utf8');
    writeFileSync(config.gateway.keyFile, line, { mode: 0o644 });
    const { chmodSync } = await import('node:fs');
    chmodSync(config.gateway.keyFile, 0o644);
    expect((await loadGatewayKeys(config)).bundle).toEqual(made.bundle);
    expect(statSync(config.gateway.keyFile).mode & 0o777).toBe(0o600);
    writeFileSync(config.gateway.keyFile, 'vutler-gateway-key:AAAA');
    await expect(loadGatewayKeys(config)).rejects.toThrow();
  });
});

describe('gateway configuration', () => {
  it('parses origins and rates, and names a bad variable', () => {
    const c = loadConfig({
      VUTLER_PUBLIC_ORIGINS: 'https://vutler.example.com, http://localhost:5173/',
      VUTLER_GATEWAY_RATE_TOOL: '10/5',
    });
    expect(c.gateway.publicOrigins).toEqual([
      'https://vutler.example.com',
      'http://localhost:5173',
    ]);
    expect(c.gateway.rateTool).toEqual({ capacity: 10, refillPerSecond: 2 });
    expect(() => loadConfig({ VUTLER_PUBLIC_ORIGINS: 'https://x.example/path' })).toThrow(
      /VUTLER_PUBLIC_ORIGINS/,
    );
    expect(() => loadConfig({ VUTLER_GATEWAY_KEY: 'secret' })).toThrow(/VUTLER_GATEWAY_KEY/);
    expect(() => loadConfig({ VUTLER_AGENT_TOKEN: 'vts_x' })).toThrow(/VUTLER_AGENT_TOKEN/);
  });
});
