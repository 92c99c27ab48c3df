/**
 * The load generator shared by the Vutler run and the bare-`ws` baseline, so both see exactly
 * the same traffic: which chat, which sender, when, and what text.
 *
 * A target only has to offer `send(chat, sender, payload)`; its receivers hand every payload
 * they get to `Recorder.deliver`. The payload carries the run tag, a message number and the
 * send timestamp, so the receiver side computes send→deliver latency without any bookkeeping
 * in the target.
 */
import { PerformanceObserver } from 'node:perf_hooks';

/** What the generator drives: a layout of chats (user indices per chat) and a send function. */
export interface Target {
  readonly name: string;
  /** Per chat, the indices of its members (the first one created the chat). */
  readonly layout: readonly (readonly number[])[];
  /**
   * Sends one message as `sender` into `chat`. Resolves when the sender's side is done (for
   * Vutler: the REST POST answered; for the baseline: the frame was handed to the socket).
   */
  send(chat: number, sender: number, payload: string): Promise<void>;
}

/** One load level: `deliveriesPerSec` fixed-rate open loop, or null for "max" (closed loop). */
export interface Level {
  label: string;
  deliveriesPerSec: number | null;
}

export interface LevelOptions {
  durationMs: number;
  /** After the send window, wait at most this long for outstanding deliveries. */
  drainMs: number;
  /** "max": messages kept in flight (sent, not yet delivered to every other member). */
  maxInFlight: number;
  /** Fixed rate: a send due while this many messages are in flight is shed (counted). */
  openLoopCap: number;
  /** A message not fully delivered after this long is counted lost and frees its slot. */
  expireMs: number;
  /** Characters of filler after the header, to make a realistic short chat message. */
  padChars: number;
  seed: number;
  /** Called when the send window opens; the function it returns is called when it closes. */
  measureCpu?: () => () => CpuShares | undefined;
}

export interface LevelResult {
  target: string;
  level: string;
  /** Offered deliveries/s (null for max). */
  offeredPerSec: number | null;
  durationMs: number;
  messagesSent: number;
  sendFailures: number;
  /** Fixed rate only: sends skipped because too many were in flight. */
  shed: number;
  deliveries: number;
  expectedDeliveries: number;
  lostDeliveries: number;
  /** Deliveries of this level's messages per second, from the first send to the last delivery. */
  deliveriesPerSec: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  /** Time `send()` took to resolve (REST round trip incl. client-side encryption for Vutler). */
  sendCallMs: { p50: number; p99: number; max: number };
  /** How late the generator issued sends against the schedule (fixed rate): the generator's own lag. */
  scheduleLagMs: { p50: number; p99: number; max: number };
  errors: Record<string, number>;
  cpu?: CpuShares;
  /** When the send window opened (epoch ms), to line the level up with server and PostgreSQL logs. */
  startedAt: number;
  /**
   * The worst 100 ms windows of the level by send time (scheduled): where its tail comes from.
   * A stall shows as one or two windows far above the rest.
   */
  worstWindows: { fromMs: number; deliveries: number; maxMs: number }[];
  /**
   * The generator's own garbage collections from the window's start to the end of the drain:
   * a pause here delays every delivery the generator has yet to read, whatever the target.
   */
  generatorGc: {
    pauses: number;
    totalMs: number;
    maxMs: number;
    over10ms: { atMs: number; ms: number }[];
  };
  /**
   * Where the latency goes, when the receiver knows when the message was stored (Vutler:
   * `createdAt`, PostgreSQL's transaction start, millisecond precision).
   */
  split?: {
    sendToStoredMs: { p50: number; p99: number };
    storedToDeliveredMs: { p50: number; p99: number };
  };
}

/** Percent of one core used during the send window, per component (Linux /proc; else absent). */
export interface CpuShares {
  loadgenAndClients: number;
  server: number;
  /** The kernel-mode part of `server` and of `loadgenAndClients` (syscalls: sockets, epoll). */
  serverKernel: number;
  /** The server's main thread alone (its event loop; thread-pool work is in `server` only). */
  serverMainThread: number;
  loadgenKernel: number;
  postgres: number;
  redis: number;
  machineBusyPct: number;
  /** Main-thread event loop utilisation of the load generator process (clients included). */
  loadgenEventLoopPct: number;
  /** read/write system calls of the server process in the window (/proc/<pid>/io), if readable. */
  serverReadCalls?: number;
  serverWriteCalls?: number;
  /** CPU used by anything else on the machine during the window (noise from other jobs). */
  otherProcesses: number;
  /** Share of the machine's time the hypervisor gave to other guests (part of machineBusyPct). */
  stealPct: number;
}

const SEP = '|';

/** Small fast deterministic PRNG (mulberry32), so both targets get the same sequence. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Chats of `members` distinct users out of `users`, spread evenly: consecutive blocks of seeded
 * permutations of all users, so every user is in about the same number of chats and chats mix.
 */
export function makeLayout(users: number, chats: number, members: number, seed: number) {
  if (members < 2 || members > users) throw new Error('need 2 ≤ members ≤ users');
  const r = rng(seed);
  const layout: number[][] = [];
  let pool: number[] = [];
  while (layout.length < chats) {
    if (pool.length < members) {
      const perm = Array.from({ length: users }, (_, i) => i);
      for (let i = perm.length - 1; i > 0; i--) {
        const j = Math.floor(r() * (i + 1));
        [perm[i], perm[j]] = [perm[j]!, perm[i]!];
      }
      // Keep the leftover of the last permutation first; skip duplicates of it in the new one.
      pool = [
        ...pool,
        ...perm.filter((u) => !pool.includes(u)),
        ...perm.filter((u) => pool.includes(u)),
      ];
    }
    layout.push(pool.splice(0, members));
  }
  return layout;
}

function pct(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

function summary(values: number[]) {
  const s = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of s) sum += v;
  return {
    p50: pct(s, 50),
    p90: pct(s, 90),
    p99: pct(s, 99),
    max: s.length ? s[s.length - 1]! : Number.NaN,
    mean: s.length ? sum / s.length : Number.NaN,
  };
}

/** The five 100 ms windows (by scheduled send time) with the highest latency. */
function worstWindows(run: Run, start: number) {
  const windows = new Map<number, { messages: number; maxMs: number }>();
  for (let i = 0; i < run.latencies.length; i++) {
    const w = Math.floor((run.sentAt[i]! - start) / 100);
    const cur = windows.get(w) ?? { messages: 0, maxMs: 0 };
    cur.messages++;
    cur.maxMs = Math.max(cur.maxMs, run.latencies[i]!);
    windows.set(w, cur);
  }
  return [...windows]
    .sort((a, b) => b[1].maxMs - a[1].maxMs)
    .slice(0, 5)
    .map(([w, x]) => ({ fromMs: w * 100, deliveries: x.messages, maxMs: +x.maxMs.toFixed(1) }));
}

interface Pending {
  remaining: number;
  t0: number;
}

interface Run {
  tag: string;
  pending: Map<number, Pending>;
  latencies: number[];
  /** Per delivery, its scheduled send time (performance.now()), same order as `latencies`. */
  sentAt: number[];
  /** Scheduled send → the server's stored timestamp, and stored → delivered (when known). */
  toStored: number[];
  storedToDelivered: number[];
  deliveries: number;
  lastDelivery: number;
  onFree: (() => void) | null;
}

/** Receives deliveries from any target's receivers and attributes them to the running level. */
export class Recorder {
  private run: Run | null = null;
  /** Deliveries that arrived after their level was closed (or outside any level). */
  late = 0;
  /** Payloads that did not parse, or named a message that was not outstanding. */
  unexpected = 0;
  /** Receiver-side problems (e.g. a message that failed to decrypt) by kind. */
  readonly receiverErrors: Record<string, number> = {};

  receiverError(kind: string): void {
    this.receiverErrors[kind] = (this.receiverErrors[kind] ?? 0) + 1;
  }

  /**
   * Called by a receiver with the text it got (decrypted and verified, for Vutler). `storedAt`
   * (epoch ms, e.g. the message's `createdAt`) splits the latency into before and after storage.
   */
  deliver(text: string, storedAt?: number): void {
    const now = performance.now();
    const a = text.indexOf(SEP);
    const b = text.indexOf(SEP, a + 1);
    const c = text.indexOf(SEP, b + 1);
    const run = this.run;
    if (a < 0 || b < 0 || c < 0) {
      this.unexpected++;
      return;
    }
    if (!run || text.slice(0, a) !== run.tag) {
      this.late++;
      return;
    }
    const no = Number(text.slice(a + 1, b));
    const p = run.pending.get(no);
    if (!p) {
      this.unexpected++;
      return;
    }
    const t0 = Number(text.slice(b + 1, c));
    run.latencies.push(now - t0);
    run.sentAt.push(t0);
    if (storedAt !== undefined) {
      // Same machine, same clock: performance.timeOrigin maps the monotonic clock to epoch ms.
      const stored = storedAt - performance.timeOrigin;
      run.toStored.push(stored - t0);
      run.storedToDelivered.push(now - stored);
    }
    run.deliveries++;
    run.lastDelivery = now;
    if (--p.remaining === 0) {
      run.pending.delete(no);
      run.onFree?.();
    }
  }

  /** Drives `target` at one level and returns what was measured. */
  async runLevel(target: Target, level: Level, tag: string, o: LevelOptions): Promise<LevelResult> {
    const layout = target.layout;
    const fanout = layout.map((m) => m.length - 1);
    const meanFanout = fanout.reduce((s, f) => s + f, 0) / fanout.length;
    const r = rng(o.seed);
    const pad = 'x'.repeat(o.padChars);
    const run: Run = {
      tag,
      pending: new Map(),
      latencies: [],
      sentAt: [],
      toStored: [],
      storedToDelivered: [],
      deliveries: 0,
      lastDelivery: 0,
      onFree: null,
    };
    this.run = run;
    const sendCall: number[] = [];
    const lag: number[] = [];
    const errors: Record<string, number> = {};
    let sent = 0;
    let failures = 0;
    let shed = 0;
    let lost = 0;
    let expected = 0;
    let next = 0;

    const gcs: { at: number; ms: number }[] = [];
    const gcObserver = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) gcs.push({ at: e.startTime, ms: e.duration });
    });
    gcObserver.observe({ entryTypes: ['gc'] });
    const stopCpu = o.measureCpu?.();
    const start = performance.now();
    const startedAt = Date.now();
    const end = start + o.durationMs;

    const issue = (intended: number) => {
      const chat = Math.floor(r() * layout.length);
      const members = layout[chat]!;
      const sender = members[Math.floor(r() * members.length)]!;
      const no = next++;
      const issuedAt = performance.now();
      lag.push(issuedAt - intended);
      run.pending.set(no, { remaining: fanout[chat]!, t0: intended });
      sent++;
      expected += fanout[chat]!;
      const payload = `${tag}${SEP}${no}${SEP}${intended.toFixed(3)}${SEP}${pad}`;
      let p: Promise<void>;
      try {
        p = target.send(chat, sender, payload);
      } catch (err) {
        p = Promise.reject(err);
      }
      p.then(
        () => sendCall.push(performance.now() - issuedAt),
        (err: unknown) => {
          failures++;
          const e = err as { status?: number; type?: string; message?: string };
          const key = e.status
            ? `HTTP ${e.status} ${e.type ?? ''}`.trim()
            : (e.message ?? String(err));
          errors[key] = (errors[key] ?? 0) + 1;
          // Nothing will be delivered for a failed send: it no longer counts as expected.
          const left = run.pending.get(no);
          if (left) {
            expected -= left.remaining;
            run.pending.delete(no);
            run.onFree?.();
          }
        },
      );
    };

    const sweeper = setInterval(() => {
      const cutoff = performance.now() - o.expireMs;
      for (const [no, p] of run.pending) {
        if (p.t0 < cutoff) {
          lost += p.remaining;
          run.pending.delete(no);
          run.onFree?.();
        }
      }
    }, 100);

    try {
      if (level.deliveriesPerSec === null) {
        // Closed loop: keep `maxInFlight` messages outstanding until the window closes.
        run.onFree = () => {
          const now = performance.now();
          if (now < end && run.pending.size < o.maxInFlight) issue(now);
        };
        for (let i = 0; i < o.maxInFlight; i++) issue(performance.now());
        await new Promise((resolve) => setTimeout(resolve, o.durationMs));
        run.onFree = null;
      } else {
        // Open loop: message i is due at start + i / rate, whatever happened to earlier ones.
        const msgPerMs = level.deliveriesPerSec / meanFanout / 1000;
        // Messages whose scheduled time falls in [start, end).
        const total = Math.ceil(o.durationMs * msgPerMs);
        await new Promise<void>((resolve) => {
          let due = 0;
          const tick = () => {
            // Message i is due once now ≥ start + i / rate: i + 1 messages are due at that point.
            const dueNow = Math.min(total, Math.floor((performance.now() - start) * msgPerMs) + 1);
            while (due < dueNow) {
              const intended = start + due / msgPerMs;
              due++;
              if (run.pending.size >= o.openLoopCap) shed++;
              else issue(intended);
            }
            if (due >= total) resolve();
            else
              setTimeout(
                tick,
                Math.max(0, Math.min(1, start + due / msgPerMs - performance.now())),
              );
          };
          tick();
        });
      }
      const cpuWindowEnd = performance.now();
      const cpu = stopCpu?.();
      // Drain: wait for the deliveries still on their way.
      const drainUntil = performance.now() + o.drainMs;
      while (run.pending.size > 0 && performance.now() < drainUntil) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      for (const p of run.pending.values()) lost += p.remaining;
      run.pending.clear();
      this.run = null;
      gcObserver.disconnect();
      const inLevel = gcs.filter((g) => g.at >= start);
      // Let the last send() promises settle so their timings count.
      await new Promise((resolve) => setTimeout(resolve, 50));
      const lat = summary(run.latencies);
      const sc = summary(sendCall);
      const lg = summary(lag);
      const ts = summary(run.toStored);
      const sd = summary(run.storedToDelivered);
      const span = (run.lastDelivery > 0 ? run.lastDelivery : cpuWindowEnd) - start;
      return {
        target: target.name,
        level: level.label,
        offeredPerSec: level.deliveriesPerSec,
        durationMs: o.durationMs,
        messagesSent: sent,
        sendFailures: failures,
        shed,
        deliveries: run.deliveries,
        expectedDeliveries: expected,
        lostDeliveries: lost,
        deliveriesPerSec: run.deliveries / (span / 1000),
        latencyMs: lat,
        startedAt,
        worstWindows: worstWindows(run, start),
        generatorGc: {
          pauses: inLevel.length,
          totalMs: +inLevel.reduce((t, g) => t + g.ms, 0).toFixed(1),
          maxMs: +Math.max(0, ...inLevel.map((g) => g.ms)).toFixed(1),
          over10ms: inLevel
            .filter((g) => g.ms > 10)
            .map((g) => ({ atMs: Math.round(g.at - start), ms: +g.ms.toFixed(1) })),
        },
        sendCallMs: { p50: sc.p50, p99: sc.p99, max: sc.max },
        scheduleLagMs: { p50: lg.p50, p99: lg.p99, max: lg.max },
        errors,
        ...(cpu ? { cpu } : {}),
        ...(run.toStored.length
          ? {
              split: {
                sendToStoredMs: { p50: ts.p50, p99: ts.p99 },
                storedToDeliveredMs: { p50: sd.p50, p99: sd.p99 },
              },
            }
          : {}),
      };
    } finally {
      gcObserver.disconnect();
      clearInterval(sweeper);
      run.onFree = null;
      if (this.run === run) this.run = null;
    }
  }
}
