/**
 * A probe preloaded into a bench server (`BENCH_SERVER_NODE_ARGS="--import ./bench/chat/probe.mjs"`)
 * while looking for stalls: every 50 ms, if the event loop was blocked for more than 15 ms in
 * that slice, one line `{"probe":"eld",…}` on stderr with the wall-clock time; and every
 * garbage collection longer than 5 ms as `{"probe":"gc",…}`. Not part of the product.
 */
import { monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';

const h = monitorEventLoopDelay({ resolution: 5 });
h.enable();
let last = performance.now();
setInterval(() => {
  const now = performance.now();
  const maxMs = h.max / 1e6;
  // The interval itself firing late is the block, too.
  const lateMs = now - last - 50;
  last = now;
  if (maxMs > 15 || lateMs > 15)
    process.stderr.write(
      `${JSON.stringify({ probe: 'eld', at: new Date().toISOString(), maxMs: +maxMs.toFixed(1), lateMs: +lateMs.toFixed(1) })}\n`,
    );
  h.reset();
}, 50).unref();

new PerformanceObserver((list) => {
  for (const e of list.getEntries())
    if (e.duration > 5)
      process.stderr.write(
        `${JSON.stringify({ probe: 'gc', at: new Date(performance.timeOrigin + e.startTime).toISOString(), ms: +e.duration.toFixed(1), kind: e.detail?.kind })}\n`,
      );
}).observe({ entryTypes: ['gc'] });
