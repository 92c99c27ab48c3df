/**
 * Trust benchmark (part of bench/crypto; alone: `npx tsx bench/crypto/trust.ts`): verifying a
 * 1,000-entry membership log and opening a 50-message history page (signature, decryption and
 * chain check), each against a baseline in the same run — the bare WebCrypto work the same
 * inputs need (Ed25519 verify + SHA-256 per entry; Ed25519 verify + AES-GCM per message).
 * The budget: both together under 50 ms.
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { SequenceTracker } from '../../src/client/sequence.ts';
import { fingerprintDigest } from '../../src/crypto/identity.ts';
import {
  createIdentity,
  generateChatKey,
  hexEncode,
  LOG_GENESIS_PREV,
  type MembershipEntry,
  membershipEntryHash,
  membershipStateFromJson,
  membershipStateToJson,
  openMessage,
  randomBytes,
  sealMessage,
  signMembershipEntry,
  uuidv7,
  verifyMembershipLog,
} from '../../src/crypto/index.ts';

const RUNS = 7;
const LOG_ENTRIES = 1000;
const PAGE = 50;
const CHAT = '018f3c1a-7b2c-7d3e-8f40-123456789abc';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
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
  for (let i = 0; entries.length < LOG_ENTRIES; i++) {
    const by = actors[1 + (i % 4)]!;
    if (i % 10 === 9 && newcomers.length) {
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
  entries.length = LOG_ENTRIES;
  const keys = new Map(actors.map((a) => [a.name, a]));
  const keyOf = async (userId: string, fp: string) => {
    const a = keys.get(userId)!;
    if (hexEncode(a.fp) !== fp) throw new Error('wrong key');
    return a.id.keys.ed25519.publicKey;
  };
  const verifyLog = () => verifyMembershipLog(entries, { chatId: CHAT, keyOf });
  const signedInputs = entries.map((e) => ({ data: randomBytes(230), sig: e.signature.slice() }));
  const edKey = await crypto.subtle.importKey(
    'raw',
    owner.id.keys.ed25519.publicKey.slice(),
    'Ed25519',
    false,
    ['verify'],
  );
  const baselineLog = () =>
    Promise.all(
      signedInputs.map(async (x) => {
        await crypto.subtle.digest('SHA-256', x.data);
        await crypto.subtle.verify('Ed25519', edKey, x.sig, x.data);
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
  await verifyWarm();
  await verifyLog();
  await openPage();
  await baselineLog();
  await baselinePage();
  const t = {
    warm: [] as number[],
    log: [] as number[],
    page: [] as number[],
    baseLog: [] as number[],
    basePage: [] as number[],
  };
  for (let r = 0; r < RUNS; r++) {
    t.baseLog.push(await timed(baselineLog));
    t.log.push(await timed(verifyLog));
    t.warm.push(await timed(verifyWarm));
    t.basePage.push(await timed(baselinePage));
    t.page.push(await timed(openPage));
  }
  const ms = (xs: number[]) => +median(xs).toFixed(1);
  const result = {
    runs: RUNS,
    // The machine is shared: a bare-WebCrypto baseline far above its idle cost means load.
    loadAverage1m: +loadavg()[0]!.toFixed(1),
    cpus: cpus().length,
    membershipLog: {
      entries: LOG_ENTRIES,
      ms: ms(t.log),
      baselineMs: ms(t.baseLog),
      ratio: +(median(t.log) / median(t.baseLog)).toFixed(2),
    },
    historyPage: {
      messages: PAGE,
      ms: ms(t.page),
      baselineMs: ms(t.basePage),
      ratio: +(median(t.page) / median(t.basePage)).toFixed(2),
    },
    warmLog: { entries: LOG_ENTRIES, ms: ms(t.warm) },
    totalColdMs: ms(t.log.map((x, i) => x + t.page[i]!)),
    totalWarmMs: ms(t.warm.map((x, i) => x + t.page[i]!)),
    baselineColdMs: ms(t.baseLog.map((x, i) => x + t.basePage[i]!)),
    budgetMs: 50,
  };
  console.log('\n| trust operation | median ms | baseline ms (bare WebCrypto) | ratio |');
  console.log('|---|---:|---:|---:|');
  console.log(
    `| verify a ${LOG_ENTRIES}-entry membership log | ${result.membershipLog.ms} | ${result.membershipLog.baselineMs} | ${result.membershipLog.ratio} |`,
  );
  console.log(
    `| open a ${PAGE}-message page (verify, decrypt, chain) | ${result.historyPage.ms} | ${result.historyPage.baselineMs} | ${result.historyPage.ratio} |`,
  );
  console.log(
    `| held ${LOG_ENTRIES}-entry log from the key store + 1 new entry | ${result.warmLog.ms} | | |`,
  );
  console.log(
    `| cold log + page (budget ${result.budgetMs} ms) | ${result.totalColdMs} | ${result.baselineColdMs} | |`,
  );
  console.log(`| warm log + page (budget ${result.budgetMs} ms) | ${result.totalWarmMs} | | |`);
  return result;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await benchTrust();
  writeFileSync(
    new URL('../results/crypto-trust.json', import.meta.url),
    `${JSON.stringify(r, null, 2)}\n`,
  );
}
