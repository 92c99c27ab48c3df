import net from 'node:net';

export interface LagOptions {
  /** Added to what Redis sends to subscriber connections (those that sent SUBSCRIBE). */
  toSubscribersMs?: number;
  /** Added to every command a client sends. */
  toServerMs?: number;
}

/**
 * A TCP proxy in front of Redis that delivers late, in order: a node whose pub/sub messages
 * arrive after the HTTP request that follows them, or a publisher whose PUBLISH reaches Redis
 * after another process's. Point a client at `url` (its `duplicate()`s come here too).
 */
export class LaggingProxy {
  private readonly clients = new Set<net.Socket>();
  private readonly server: net.Server;
  private port = 0;

  private constructor(target: URL, lag: LagOptions) {
    this.server = net.createServer((client) => {
      const upstream = net.connect(Number(target.port || 6379), target.hostname);
      this.clients.add(client);
      client.on('close', () => {
        this.clients.delete(client);
        upstream.destroy();
      });
      upstream.on('close', () => client.destroy());
      for (const s of [client, upstream]) s.on('error', () => undefined);
      let subscriber = false;
      const toServer = late(upstream, () => lag.toServerMs ?? 0);
      const toClient = late(client, () => (subscriber ? (lag.toSubscribersMs ?? 0) : 0));
      client.on('data', (d: Buffer) => {
        if (!subscriber && /\bp?subscribe\b/i.test(d.toString('latin1'))) subscriber = true;
        toServer(d);
      });
      upstream.on('data', toClient);
    });
  }

  static async start(target: string, lag: LagOptions): Promise<LaggingProxy> {
    const proxy = new LaggingProxy(new URL(target), lag);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    proxy.port = (proxy.server.address() as net.AddressInfo).port;
    return proxy;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    for (const s of this.clients) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Writes chunks to `out` `delayMs()` after they came, never reordering them. */
function late(out: net.Socket, delayMs: () => number): (chunk: Buffer) => void {
  const queue: { due: number; chunk: Buffer }[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const now = Date.now();
    while (queue.length && queue[0]!.due <= now) out.write(queue.shift()!.chunk);
    if (queue.length) schedule(queue[0]!.due - now);
  };
  const schedule = (ms: number) => {
    scheduled = true;
    setTimeout(flush, ms);
  };
  return (chunk) => {
    const ms = delayMs();
    if (ms <= 0 && queue.length === 0) {
      out.write(chunk);
      return;
    }
    queue.push({ due: Date.now() + ms, chunk });
    if (!scheduled) schedule(ms);
  };
}
