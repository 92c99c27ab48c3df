import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOOLS } from '../../src/tools/index.ts';
import { gatewayKeyLine } from '../helpers/gateway.ts';
import { useGithubServer } from '../helpers/github.ts';
import { vdriveEnv } from '../helpers/vdrive.ts';
import { argsFor, jsonish, nastyString, storedState } from './fuzz.ts';
import { idsOf, mcpCall, type Tenant, tenant, tool } from './world.ts';

/**
 * Every MCP tool fuzzed through `/mcp` of the real app (real PostgreSQL, Redis, storage, GitHub
 * stand-in), with arguments drawn from the tool's own advertised input schema, and malformed
 * JSON-RPC besides. The caller is an agent allowed everything of its owner's (so calls reach the
 * services, not only the permission check); ids are its owner's, another tenant's and unknown.
 * Never a 5xx, never an `internal` refusal or JSON-RPC internal error, never a byte of the other
 * tenant, and a refused call changes no stored row (the audit log aside: refusals are audited).
 */
const RUNS_PER_TOOL = Number(process.env.FUZZ_MCP_RUNS_PER_TOOL ?? 100);
const RPC_RUNS = Number(process.env.FUZZ_MCP_RPC_RUNS ?? 400);
/** Tools whose accepted calls write: their refused calls are checked one by one. */
const WRITES = new Set(['post_message', 'remember', 'forget', 'trigger_deploy']);
const AUDIT_TABLES = /^(decryption_audit_log|audit_checkpoints): /;

const key = await gatewayKeyLine();
const drive = vdriveEnv();
afterAll(() => drive.cleanup());

describe('MCP fuzzing of every tool', () => {
  const t = useGithubServer({
    VUTLER_GATEWAY_KEY: key,
    ...drive.overrides,
    VUTLER_GATEWAY_RATE_TOOL: '1000000/60',
    VUTLER_GATEWAY_RATE_USER: '1000000/60',
  });
  let alice: Tenant;
  let bob: Tenant;
  let total = 0;

  beforeAll(async () => {
    alice = await tenant(t.server, t.standin, 'alice');
    bob = await tenant(t.server, t.standin, 'bob');
  });

  /** Stored rows without the audit log (refusals are audited by design). */
  const rows = async () =>
    (await storedState(t.db.pool))
      .split('\n')
      .filter((l) => !AUDIT_TABLES.test(l))
      .join('\n');
  const auditCount = async () =>
    Number(
      (await t.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM decryption_audit_log'))
        .rows[0]?.n,
    );

  /** Everything Alice's agent ever sent: it may store Bob's ids as text and read them back. */
  let sentEver = '';
  /** What the other tenant owns and the caller never sent must not come back. */
  function leakCheck(label: string, sent: string, answer: string) {
    sentEver += sent;
    expect(answer, label).not.toContain(bob.secret);
    for (const id of idsOf(bob))
      if (!sentEver.includes(id)) expect(answer, label).not.toContain(id);
  }

  it('lists every tool to an agent allowed everything', async () => {
    const r = await mcpCall(t.server, alice.token, {
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/list',
    });
    const names = (r.json as { result: { tools: { name: string }[] } }).result.tools.map(
      (x) => x.name,
    );
    expect(names.sort()).toEqual(TOOLS.map((x) => x.name).sort());
  });

  it('answers every tool call from its input schema without a 5xx, an internal error or a leak', async () => {
    const listed = (
      (await mcpCall(t.server, alice.token, { jsonrpc: '2.0', id: 1, method: 'tools/list' }))
        .json as { result: { tools: { name: string; inputSchema: object }[] } }
    ).result.tools;
    const ids = [...idsOf(alice), ...idsOf(bob), '0190d5c2-0000-7000-8000-0000000000aa'];
    const both = (f: (x: Tenant) => string) => [f(alice), f(alice), f(bob)];
    const byName = {
      chatId: both((x) => x.chatId),
      replyTo: both((x) => x.messageId),
      fileId: both((x) => x.fileId),
      cursor: both((x) => x.fileId),
      repoId: both((x) => x.repoId),
      id: both((x) => x.memoryId),
    };
    const figures: string[] = [];
    for (const { name, inputSchema } of listed) {
      let ok = 0;
      let refused = 0;
      let invalid = 0;
      const batchBefore = await rows();
      const auditBefore = await auditCount();
      let last = batchBefore;
      await fc.assert(
        fc.asyncProperty(argsFor(inputSchema, ids, byName), async (args) => {
          const sent = JSON.stringify(args) ?? '';
          const r = await tool(t.server, alice.token, name, args);
          total++;
          const label = `${name}(${sent}) -> ${r.status} ${r.text.slice(0, 300)}`;
          expect(r.status, label).toBe(200);
          leakCheck(label, sent, r.text);
          let accepted = false;
          if (r.error) {
            expect(r.error.code, label).not.toBe(-32603);
            invalid++;
          } else if (r.result?.isError) {
            const code = (r.result._meta?.['vutler/error'] as { code?: string } | undefined)?.code;
            expect(code, label).not.toBe('internal');
            expect(code, label).not.toBe('audit-unavailable');
            if (code) refused++;
            else invalid++; // the SDK's own "Input validation error"
          } else {
            accepted = true;
            ok++;
          }
          if (WRITES.has(name)) {
            const now = await rows();
            if (!accepted) expect(now, `${label}: a refused call changed stored rows`).toBe(last);
            last = now;
          }
        }),
        { numRuns: RUNS_PER_TOOL },
      );
      if (ok === 0)
        expect(await rows(), `${name}: refused calls changed stored rows`).toBe(batchBefore);
      // Only calls that reached the permission check are audited; invalid input is not.
      expect(await auditCount()).toBeLessThanOrEqual(auditBefore + ok + refused);
      figures.push(`${name} ${ok}/${refused}/${invalid}`);
    }
    console.log(`MCP tool fuzz (ok/refused/invalid): ${figures.join(', ')}`);
  }, 600_000);

  // Counterexamples the fuzzing found, kept as fixed cases (both were `internal` before).
  it('refuses a replyTo that is not a message id (UUIDv7) as invalid input', async () => {
    const r = await tool(t.server, alice.token, 'post_message', {
      chatId: alice.chatId,
      text: 'hi',
      replyTo: alice.chatId.replace(/^(.{14})./, '$14'),
    });
    expect(r.result?.isError, r.text).toBe(true);
    expect(r.text).not.toContain('internal');
    expect(r.text).toContain('UUIDv7');
  });

  it('answers tools/call without params, or with null arguments, -32602 (batched too)', async () => {
    const call = (id: number, params?: unknown) => ({
      jsonrpc: '2.0',
      id,
      method: 'tools/call',
      ...(params === undefined ? {} : { params }),
    });
    const single = await mcpCall(t.server, alice.token, call(7));
    expect(single.json).toEqual({
      jsonrpc: '2.0',
      id: 7,
      error: { code: -32602, message: 'Invalid params for tools/call.' },
    });
    const nul = await mcpCall(t.server, alice.token, call(8, { name: 'whoami', arguments: null }));
    expect((nul.json as { error: { code: number } }).error.code).toBe(-32602);
    const batch = await mcpCall(t.server, alice.token, [
      call(1),
      { jsonrpc: '2.0', id: 2, method: 'constructor' },
      call(3, { name: 'whoami', arguments: {} }),
    ]);
    expect(batch.status).toBe(200);
    const answers = batch.json as Array<{ id: number; error?: { code: number }; result?: object }>;
    const byId = new Map(answers.map((a) => [a.id, a]));
    expect(byId.get(1)?.error?.code).toBe(-32602);
    expect(byId.get(2)?.error?.code).toBe(-32601);
    expect(byId.get(3)?.result).toBeDefined();
  });

  it('answers malformed JSON-RPC with a JSON-RPC error, never a 5xx, and changes nothing', async () => {
    const names = TOOLS.map((x) => x.name);
    const message = fc.record(
      {
        jsonrpc: fc.oneof(fc.constant('2.0'), nastyString, fc.integer()),
        id: fc.oneof(fc.integer(), nastyString, fc.constant(null), jsonish),
        method: fc.oneof(
          fc.constantFrom(
            'tools/call',
            'tools/list',
            'initialize',
            'ping',
            'resources/list',
            'prompts/get',
            'notifications/initialized',
            'logging/setLevel',
            'completion/complete',
          ),
          nastyString,
        ),
        params: fc.oneof(
          jsonish,
          fc.record({
            name: fc.oneof(fc.constantFrom(...names), nastyString),
            arguments: jsonish,
            _meta: jsonish,
          }),
        ),
      },
      { requiredKeys: [] },
    );
    const body = fc.oneof(
      { weight: 4, arbitrary: message.map((m) => JSON.stringify(m)) },
      { weight: 1, arbitrary: fc.array(message, { maxLength: 20 }).map((m) => JSON.stringify(m)) },
      { weight: 1, arbitrary: nastyString },
      { weight: 1, arbitrary: jsonish.map((v) => JSON.stringify(v) ?? 'null') },
    );
    const before = await rows();
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const r = await mcpCall(t.server, alice.token, b, true);
        total++;
        const label = `${b.slice(0, 300)} -> ${r.status} ${r.text.slice(0, 300)}`;
        expect(r.status, label).toBeLessThan(500);
        leakCheck(label, b, r.text);
        expect(r.text, label).not.toContain('"code":-32603');
        expect(r.text, label).not.toContain('"code":"internal"');
        if (r.text.includes('"structuredContent"')) accepted++;
      }),
      { numRuns: RPC_RUNS },
    );
    if (accepted === 0) expect(await rows()).toBe(before);
    console.log(`MCP JSON-RPC fuzz: ${RPC_RUNS} bodies, ${accepted} accepted tool calls`);
    console.log(`MCP fuzz: ${total} calls in all`);
    expect((await fetch(`${t.server.url}/health`)).status).toBe(200);
  });
});
