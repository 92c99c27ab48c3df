import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The process's Prometheus metrics, in one registry that `GET /metrics` serves.
 *
 * Features report with one line, e.g.
 *   metrics.mcpCalls.inc({ tool: 'chat.read', outcome: 'ok' });
 *   metrics.decryptions.inc({ kind: 'message' });
 *   metrics.auditRows.inc({ outcome: 'allowed' });
 *   metrics.jobs.inc({ queue: 'agent-runs', outcome: 'completed' });
 * and values that are read when scraped (queue depths, outbox lag, sockets) register a source:
 *   const off = observe('queueDepth', async () => [{ labels: { queue, state: 'waiting' }, value }]);
 * Labels are names and outcomes only, never ids or content: cardinality stays bounded and
 * nothing secret reaches a scrape.
 */
export const metricsRegistry = new Registry();

export interface Sample {
  labels?: Record<string, string>;
  value: number;
}
type Source = () => Sample[] | Promise<Sample[]>;

const sources = {
  wsConnections: new Set<Source>(),
  queueDepth: new Set<Source>(),
  outboxLagSeconds: new Set<Source>(),
};
export type SourceName = keyof typeof sources;

/** Adds a scrape-time source for a gauge; returns the function that removes it. */
export function observe(name: SourceName, source: Source): () => void {
  sources[name].add(source);
  return () => {
    sources[name].delete(source);
  };
}

/**
 * Sums every source's samples per label set: several hubs (tests) or queues in one process add up.
 * A failing source (Redis down while scraping) is skipped: its gauge keeps its last value rather
 * than failing the whole scrape.
 */
async function collectInto(gauge: Gauge<string>, name: SourceName): Promise<void> {
  const totals = new Map<string, Sample>();
  for (const source of sources[name]) {
    let samples: Sample[];
    try {
      samples = await source();
    } catch {
      continue;
    }
    for (const s of samples) {
      const key = JSON.stringify(s.labels ?? {});
      const prev = totals.get(key);
      totals.set(key, { labels: s.labels, value: (prev?.value ?? 0) + s.value });
    }
  }
  gauge.reset();
  for (const s of totals.values()) {
    if (s.labels) gauge.set(s.labels, s.value);
    else gauge.set(s.value);
  }
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const metrics = {
  httpRequests: new Counter({
    name: 'vutler_http_requests_total',
    help: 'HTTP requests by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [metricsRegistry],
  }),
  httpDuration: new Histogram({
    name: 'vutler_http_request_duration_seconds',
    help: 'HTTP request latency by method and route pattern',
    labelNames: ['method', 'route'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [metricsRegistry],
  }),
  wsConnections: new Gauge({
    name: 'vutler_ws_connections',
    help: 'Authenticated WebSocket connections on this node',
    registers: [metricsRegistry],
    async collect() {
      await collectInto(this, 'wsConnections');
    },
  }),
  wsFrames: new Counter({
    name: 'vutler_ws_frames_total',
    help: 'WebSocket frames received, by type and outcome',
    labelNames: ['type', 'outcome'] as const,
    registers: [metricsRegistry],
  }),
  mcpCalls: new Counter({
    name: 'vutler_mcp_calls_total',
    help: 'MCP tool calls by tool and outcome (ok, denied, error)',
    labelNames: ['tool', 'outcome'] as const,
    registers: [metricsRegistry],
  }),
  mcpDuration: new Histogram({
    name: 'vutler_mcp_call_duration_seconds',
    help: 'MCP tool call latency by tool',
    labelNames: ['tool'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [metricsRegistry],
  }),
  decryptions: new Counter({
    name: 'vutler_gateway_decryptions_total',
    help: 'In-memory decryptions performed by the gateway, by kind',
    labelNames: ['kind'] as const,
    registers: [metricsRegistry],
  }),
  auditRows: new Counter({
    name: 'vutler_audit_rows_total',
    help: 'Decryption audit rows written, by outcome (allowed, denied, error)',
    labelNames: ['outcome'] as const,
    registers: [metricsRegistry],
  }),
  auditFailures: new Counter({
    name: 'vutler_audit_failures_total',
    help: 'Audit inserts that failed (the call was refused, nothing returned)',
    registers: [metricsRegistry],
  }),
  jobs: new Counter({
    name: 'vutler_jobs_total',
    help: "Background jobs finished, by queue and outcome (completed, failed: no attempts left); cluster-wide, from the queues' event streams",
    labelNames: ['queue', 'outcome'] as const,
    registers: [metricsRegistry],
  }),
  queueDepth: new Gauge({
    name: 'vutler_queue_jobs',
    help: 'Jobs per queue and state (waiting, active, delayed, failed)',
    labelNames: ['queue', 'state'] as const,
    registers: [metricsRegistry],
    async collect() {
      await collectInto(this, 'queueDepth');
    },
  }),
  outboxLag: new Gauge({
    name: 'vutler_outbox_lag_seconds',
    help: 'Age of the oldest unrelayed outbox row',
    registers: [metricsRegistry],
    async collect() {
      await collectInto(this, 'outboxLagSeconds');
    },
  }),
  rateLimited: new Counter({
    name: 'vutler_rate_limited_total',
    help: 'Requests refused with 429, by route pattern',
    labelNames: ['route'] as const,
    registers: [metricsRegistry],
  }),
};
