/**
 * Trust benchmark (part of bench/crypto; alone: `node --import tsx bench/crypto/trust.ts`):
 * verifying a 1,000-entry membership log and opening a 50-message history page (signature,
 * decryption and chain check). The budget: both together under 50 ms.
 *
 * The cold log is measured three ways, each from the wire JSON a device downloads: a new device
 * of a member added at the end (anchored at the entry that added it: one signature checked), a
 * new device of the owner whose own anchor is ANCHOR_EVERY - 1 entries old (the anchor plus 31
 * signatures), and full verification with no anchor (1,000 signatures) as the figure beside.
 * Baselines in the same run: the bare crypto of full verification — 1,000 WebCrypto Ed25519
 * verifies issued at once (the thread pool's best case) with a synchronous SHA-256 of each
 * entry, as the verifier itself hashes — and of the page (Ed25519 verify + AES-GCM per message).
 * Wall time and process CPU time per operation are both reported, with the load average: the
 * machine may be shared. `BENCH_TRUST_RUNS` (default 7) sets the rounds; profile with
 * `node --cpu-prof --import tsx bench/crypto/trust.ts`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { ANCHOR_EVERY } from '../../src/client/chatlog.ts';
import { SequenceTracker } from '../../src/client/sequence.ts';
import { fingerprintDigest } from '../../src/crypto/identity.ts';
import {
  createIdentity,
  generateChatKey,
  hexEncode,
  LOG_GENESIS_PREV,
  logAnchorFromJson,
  logAnchorToJson,
  type MembershipEntry,
  membershipEntryFromJson,
  membershipEntryHash,
  membershipEntryToJson,
  membershipStateFromJson,
  membershipStateToJson,
  openMessage,
  randomBytes,
  sealMessage,
  signLogAnchor,
  signMembershipEntry,
  uuidv7,
  verifyLogAnchor,
  verifyMembershipLog,
  verifyMembershipLogAnchored,
} from '../../src/crypto/index.ts';
import { sha256Sync } from '../../src/crypto/primitives.ts';
import type { SummaryRow } from '../report.ts';

const RUNS = Number(process.env.BENCH_TRUST_RUNS ?? 7);
const LOG_ENTRIES = 1000;
const PAGE = 50;
const CHAT = '018f3c1a-7b2c-7d3e-8f40-123456789abc';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/** Wall ms and process CPU ms (all threads: WebCrypto runs on the libuv pool) of one call. */
async function timed(fn: () => Promise<unknown>): Promise<{ wall: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1000 };
}

async function person(name: string) {
  const mk = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, [
    'encrypt',
    'decrypt',
  ]);
  const id = await createIdentity(mk, name);
  return { name, id, fp: await fingerprintDigest(id.publicIdentity) };
}

export async function benchTrust() {
  const actors = await Promise.all(['owner', 'm1', 'm2', 'm3', 'm4'].map(person));
  const owner = actors[0]!;
  // The new device's user: added by m1 as the log's last entry.
  const reader = await person('reader');
  // A realistic mix: the owner creates and adds four members; then members add newcomers and
  // rotate; every tenth change the owner removes someone and rotates.
  const entries: MembershipEntry[] = [];
  let prev: Uint8Array = LOG_GENESIS_PREV;
  let epoch = 0;
  const newcomers: { id: string; fp: Uint8Array }[] = [];
  const push = async (
    by: (typeof actors)[number],
    e: Omit<MembershipEntry, 'chatId' | 'position' | 'prevHash' | 'actorId' | 'signature'>,
  ) => {
    const signed = await signMembershipEntry(
      { ...e, chatId: CHAT, position: entries.length, prevHash: prev, actorId: by.name },
      by.id.keys.ed25519.privateKey,
    );
    prev = await membershipEntryHash(signed);
    entries.push(signed);
  };
  const commit = async (ep: number) => (await generateChatKey(CHAT, ep)).commitment;
  await push(owner, {
    epoch: 0,
    action: 'create',
    subjectId: owner.name,
    subjectFingerprint: owner.fp,
    role: 'owner',
    keyCommitment: await commit(0),
  });
  for (const a of actors.slice(1)) {
    await push(owner, {
      epoch: 0,
      action: 'add',
      subjectId: a.name,
      subjectFingerprint: a.fp,
      role: 'member',
      keyCommitment: null,
    });
  }
  for (let i = 0; entries.length < LOG_ENTRIES - 1; i++) {
    const by = actors[1 + (i % 4)]!;
    if (i % 10 === 9 && newcomers.length && entries.length <= LOG_ENTRIES - 3) {
      const gone = newcomers.shift()!;
      await push(owner, {
        epoch,
        action: 'remove',
        subjectId: gone.id,
        subjectFingerprint: gone.fp,
        role: '',
        keyCommitment: null,
      });
      epoch++;
      await push(owner, {
        epoch,
        action: 'rotate',
        subjectId: owner.name,
        subjectFingerprint: owner.fp,
        role: '',
        keyCommitment: await commit(epoch),
      });
    } else if (i % 3 === 2) {
      epoch++;
      await push(by, {
        epoch,
        action: 'rotate',
        subjectId: by.name,
        subjectFingerprint: by.fp,
        role: '',
        keyCommitment: await commit(epoch),
      });
    } else {
      const n = { id: `newcomer-${i}`, fp: randomBytes(32) };
      newcomers.push(n);
      await push(by, {
        epoch,
        action: 'add',
        subjectId: n.id,
        subjectFingerprint: n.fp,
        role: 'member',
        keyCommitment: null,
      });
    }
  }
  await push(actors[1]!, {
    epoch,
    action: 'add',
    subjectId: reader.name,
    subjectFingerprint: reader.fp,
    role: 'member',
    keyCommitment: null,
  });
  if (entries.length !== LOG_ENTRIES) throw new Error('bench log has the wrong length');
  const keys = new Map([...actors, reader].map((a) => [a.name, a]));
  const keyOf = async (userId: string, fp: string) => {
    const a = keys.get(userId)!;
    if (hexEncode(a.fp) !== fp) throw new Error('wrong key');
    return a.id.keys.ed25519.publicKey;
  };
  // What a device downloads: the wire JSON (parsing it is part of every cold figure).
  const wire = JSON.stringify(entries.map(membershipEntryToJson));
  const parse = () => (JSON.parse(wire) as unknown[]).map((j) => membershipEntryFromJson(CHAT, j));
  const verifyLog = () => verifyMembershipLog(parse(), { chatId: CHAT, keyOf });
  const self = { userId: reader.name, fingerprint: reader.fp };
  const verifyAdded = async () => {
    const r = await verifyMembershipLogAnchored(parse(), { chatId: CHAT, keyOf, self });
    if (r.checkedFrom !== LOG_ENTRIES - 1) throw new Error('the add was not taken as anchor');
  };
  // The owner's own anchor, published ANCHOR_EVERY - 1 entries ago (the most a device that
  // keeps syncing can be behind), fetched beside the log and checked with the owner's key.
  const full = await verifyMembershipLog(entries, { chatId: CHAT, keyOf });
  const anchorAt = LOG_ENTRIES - (ANCHOR_EVERY - 1);
  const anchorWire = JSON.stringify(
    logAnchorToJson(
      await signLogAnchor(
        { chatId: CHAT, userId: owner.name, length: anchorAt, head: full.hashes[anchorAt - 1]! },
        owner.id.keys.ed25519.privateKey,
      ),
    ),
  );
  const verifyOwnAnchor = async () => {
    const anchor = logAnchorFromJson(CHAT, owner.name, JSON.parse(anchorWire));
    if (!(await verifyLogAnchor(anchor, owner.id.keys.ed25519.publicKey)))
      throw new Error('bench anchor does not verify');
    const r = await verifyMembershipLogAnchored(parse(), {
      chatId: CHAT,
      keyOf,
      trustedPrefix: anchor,
      self: { userId: owner.name, fingerprint: owner.fp },
    });
    if (r.checkedFrom !== anchorAt) throw new Error('the own anchor was not used');
  };
  const signedInputs = entries.map((e) => ({ data: randomBytes(230), sig: e.signature.slice() }));
  const edKey = await crypto.subtle.importKey(
    'raw',
    owner.id.keys.ed25519.publicKey.slice(),
    'Ed25519',
    false,
    ['verify'],
  );
  // Each hash done and each verification started before the next entry: nothing waits.
  const baselineLog = () =>
    Promise.all(
      signedInputs.map((x) => {
        sha256Sync(x.data);
        return crypto.subtle.verify('Ed25519', edKey, x.sig, x.data);
      }),
    );

  // A page of 50 messages from three sender devices.
  const ck = await generateChatKey(CHAT, epoch);
  const senders = actors.slice(0, 3);
  const heads = senders.map(() => ({
    chainId: randomBytes(16),
    counter: 0,
    prev: new Uint8Array(32),
  }));
  const page: {
    view: { id: string; seq: number };
    sender: number;
    header: Parameters<typeof openMessage>[0]['header'];
    m: Awaited<ReturnType<typeof sealMessage>>;
  }[] = [];
  for (let i = 0; i < PAGE; i++) {
    const s = i % 3;
    const chain = { ...heads[s]! };
    const header = {
      messageId: uuidv7(),
      sender: { kind: 'user' as const, userId: senders[s]!.name },
      chain,
      mentions: i % 5 === 0 ? ['claude'] : [],
      decryptionPermissions: {},
    };
    const m = await sealMessage({
      chatKey: ck,
      header,
      body: { text: `message ${i} `.repeat(8), replyTo: null, attachments: [] },
      signingKey: senders[s]!.id.keys.ed25519.privateKey,
    });
    heads[s] = { chainId: chain.chainId, counter: chain.counter + 1, prev: m.hash };
    page.push({ view: { id: header.messageId, seq: i + 1 }, sender: s, header, m });
  }
  const openPage = async () => {
    const tracker = new SequenceTracker({});
    const opened = await Promise.all(
      page.map((p) =>
        openMessage({
          chatKey: ck,
          header: p.header,
          encryptedContent: p.m.encryptedContent,
          signature: p.m.signature,
          signerEd25519PublicKey: senders[p.sender]!.id.keys.ed25519.publicKey,
        }),
      ),
    );
    opened.forEach((o, i) => {
      const p = page[i]!;
      if (
        tracker.place(
          p.header.sender.kind === 'user' ? p.header.sender.userId : '',
          p.view,
          p.header.chain,
          o.hash,
        ).sequence !== 'in-order'
      )
        throw new Error('bench page out of order');
    });
  };
  const rawKey = await crypto.subtle.importKey('raw', randomBytes(32), 'AES-GCM', false, [
    'encrypt',
    'decrypt',
  ]);
  const rawPage = await Promise.all(
    page.map(async (p) => {
      const iv = randomBytes(12);
      const data = randomBytes(p.m.encryptedContent.length);
      return {
        iv,
        ct: await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, rawKey, data),
        sig: p.m.signature,
        data,
      };
    }),
  );
  const baselinePage = () =>
    Promise.all(
      rawPage.map(async (r) => {
        await crypto.subtle.verify('Ed25519', edKey, r.sig, r.data);
        await crypto.subtle.decrypt({ name: 'AES-GCM', iv: r.iv }, rawKey, r.ct);
      }),
    );

  // Warm: what a device does on every later sync — its verified state from the key store
  // (JSON), extended by the one new entry.
  const held = await verifyMembershipLog(entries.slice(0, -1), { chatId: CHAT, keyOf });
  const stored = JSON.stringify(membershipStateToJson(held));
  const lastEntry = entries.slice(-1);
  const verifyWarm = () =>
    verifyMembershipLog(lastEntry, {
      chatId: CHAT,
      keyOf,
      from: membershipStateFromJson(JSON.parse(stored)),
    });
  const ops = {
    added: verifyAdded,
    ownAnchor: verifyOwnAnchor,
    full: verifyLog,
    warm: verifyWarm,
    page: openPage,
    baseLog: baselineLog,
    basePage: baselinePage,
  };
  type Op = keyof typeof ops;
  const loadBefore = +loadavg()[0]!.toFixed(1);
  for (const f of Object.values(ops)) await f();
  const t = Object.fromEntries(
    Object.keys(ops).map((k) => [k, [] as { wall: number; cpu: number }[]]),
  ) as Record<Op, { wall: number; cpu: number }[]>;
  for (let r = 0; r < RUNS; r++) {
    // Interleaved, so load changes during the run hit every figure alike.
    for (const [k, f] of Object.entries(ops) as [Op, () => Promise<unknown>][])
      t[k].push(await timed(f));
  }
  const ms = (k: Op) => +median(t[k].map((x) => x.wall)).toFixed(1);
  const cpu = (k: Op) => +median(t[k].map((x) => x.cpu)).toFixed(1);
  const plusPage = (k: Op) => +median(t[k].map((x, i) => x.wall + t.page[i]!.wall)).toFixed(1);
  const load = +loadavg()[0]!.toFixed(1);
  const budgetMs = 50;
  const coldAnchored = plusPage('added');
  const coldOwn = plusPage('ownAnchor');
  const coldFull = plusPage('full');
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    runs: RUNS,
    // The machine may be shared: a bare-WebCrypto baseline far above its idle cost means load.
    loadAverage1m: load,
    loadAverage1mBefore: loadBefore,
    cpus: cpus().length,
    anchorEvery: ANCHOR_EVERY,
    membershipLog: {
      entries: LOG_ENTRIES,
      addedAtEnd: { ms: ms('added'), cpuMs: cpu('added'), signaturesChecked: 1 },
      ownAnchor: { ms: ms('ownAnchor'), cpuMs: cpu('ownAnchor'), signaturesChecked: ANCHOR_EVERY },
      full: { ms: ms('full'), cpuMs: cpu('full'), signaturesChecked: LOG_ENTRIES },
      baselineFullMs: ms('baseLog'),
      baselineFullCpuMs: cpu('baseLog'),
      fullRatio: +(ms('full') / ms('baseLog')).toFixed(2),
    },
    historyPage: {
      messages: PAGE,
      ms: ms('page'),
      cpuMs: cpu('page'),
      baselineMs: ms('basePage'),
      ratio: +(ms('page') / ms('basePage')).toFixed(2),
    },
    warmLog: { entries: LOG_ENTRIES, newEntries: 1, ms: ms('warm'), cpuMs: cpu('warm') },
    totalColdAnchoredMs: coldAnchored,
    totalColdOwnAnchorMs: coldOwn,
    totalColdFullMs: coldFull,
    totalWarmMs: plusPage('warm'),
    baselineColdFullMs: +median(t.baseLog.map((x, i) => x.wall + t.basePage[i]!.wall)).toFixed(1),
    budgetMs,
    summary: [] as SummaryRow[],
  };
  const under = (v: number) => ({ target: `≤ ${budgetMs} ms`, met: v <= budgetMs });
  result.summary = [
    {
      figure: `cold ${LOG_ENTRIES}-entry log (new device, added last: 1 signature) + ${PAGE}-message page`,
      value: coldAnchored,
      unit: 'ms',
      baseline: 'bare crypto for full log + page',
      baselineValue: result.baselineColdFullMs,
      ...under(coldAnchored),
    },
    {
      figure: `cold ${LOG_ENTRIES}-entry log (new device, own anchor ${ANCHOR_EVERY - 1} entries old) + page`,
      value: coldOwn,
      unit: 'ms',
      baseline: 'bare crypto for full log + page',
      baselineValue: result.baselineColdFullMs,
      ...under(coldOwn),
    },
    {
      figure: `cold ${LOG_ENTRIES}-entry log, full verification (no anchor applies) + page`,
      value: coldFull,
      unit: 'ms',
      baseline: 'bare crypto for full log + page',
      baselineValue: result.baselineColdFullMs,
      ...under(coldFull),
    },
    {
      figure: `warm: held ${LOG_ENTRIES}-entry log + 1 new entry + page`,
      value: result.totalWarmMs,
      unit: 'ms',
      ...under(result.totalWarmMs),
    },
    {
      figure: `${PAGE}-message page (verify, decrypt, chain)`,
      value: ms('page'),
      unit: 'ms',
      baseline: 'bare WebCrypto Ed25519 verify + AES-GCM',
      baselineValue: ms('basePage'),
    },
    {
      figure: `full ${LOG_ENTRIES}-entry log verification, CPU per verification`,
      value: cpu('full'),
      unit: 'ms CPU',
      baseline: 'bare: Ed25519 verifies at once + SHA-256, CPU',
      baselineValue: cpu('baseLog'),
    },
    {
      figure: `cold log, added last, CPU per verification`,
      value: cpu('added'),
      unit: 'ms CPU',
    },
  ];
  const md: string[] = [
    `load average (1 min) ${loadBefore} before, ${load} after, on ${cpus().length} cores; median of ${RUNS} interleaved runs`,
    '',
    '| trust operation | median ms | CPU ms | bare baseline ms | bare baseline CPU ms |',
    '|---|---:|---:|---:|---:|',
  ];
  const row = (name: string, k: Op, base?: Op) =>
    md.push(
      `| ${name} | ${ms(k)} | ${cpu(k)} | ${base ? ms(base) : ''} | ${base ? cpu(base) : ''} |`,
    );
  row(`cold ${LOG_ENTRIES}-entry log, new device added last (1 signature)`, 'added');
  row(`cold ${LOG_ENTRIES}-entry log, own anchor ${ANCHOR_EVERY - 1} entries old`, 'ownAnchor');
  row(`cold ${LOG_ENTRIES}-entry log, full verification`, 'full', 'baseLog');
  row(`held ${LOG_ENTRIES}-entry log from the key store + 1 new entry`, 'warm');
  row(`open a ${PAGE}-message page (verify, decrypt, chain)`, 'page', 'basePage');
  md.push('', `| log + page (budget ${budgetMs} ms) | median ms | met |`, '|---|---:|---|');
  for (const [name, v] of [
    ['cold, added last', coldAnchored],
    ['cold, own anchor', coldOwn],
    ['cold, full verification', coldFull],
    ['bare baseline: full log + page', result.baselineColdFullMs],
    ['warm', result.totalWarmMs],
  ] as const)
    md.push(`| ${name} | ${v} | ${v <= budgetMs ? 'yes' : 'no'} |`);
  console.log(`\n${md.join('\n')}`);
  writeTrustResults(result, md);
  return result;
}

/** bench/results/crypto-trust.json (BENCHMARKS.md's rows) and crypto-trust.md (the tables). */
function writeTrustResults(result: object, md: string[]): void {
  const out = new URL('../results/', import.meta.url);
  mkdirSync(out, { recursive: true });
  writeFileSync(new URL('crypto-trust.json', out), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(
    new URL('crypto-trust.md', out),
    `# bench/crypto: trust\n\nVerifying a ${LOG_ENTRIES}-entry membership log from its wire JSON and opening a ${PAGE}-message history page (bench/crypto/trust.ts). ${process.version}, ${cpus().length}× ${cpus()[0]?.model ?? 'unknown'}.\n\n${md.join('\n')}\n`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchTrust();
}
