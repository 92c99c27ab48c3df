/**
 * The light load generator of the server-side mode: HTTP POSTs of bodies prepared ahead of time
 * over keep-alive sockets, and WebSocket receivers that only parse frames — no encryption,
 * decryption or signature work on the generator's side, so the server is what saturates.
 */
import http from 'node:http';
import WebSocket from 'ws';

export class LightSender {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  private readonly url: URL;

  constructor(baseUrl: string) {
    this.url = new URL(baseUrl);
  }

  /** POSTs `body` as JSON with a bearer token; resolves with the status, rejects on non-2xx. */
  post(path: string, token: string, body: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          agent: this.agent,
          host: this.url.hostname,
          port: this.url.port,
          path,
          method: 'POST',
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) return resolve();
            const err = new Error(`HTTP ${status}`) as Error & { status: number; type?: string };
            err.status = status;
            try {
              err.type = (JSON.parse(Buffer.concat(chunks).toString()) as { type?: string }).type;
            } catch {
              // not JSON
            }
            reject(err);
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

export interface Delivered {
  chatId: string;
  messageId: string;
  senderId: string | null;
  createdAt: string | undefined;
}

/**
 * A WebSocket that reports each `message.created` frame. `hello`: the first frame to send
 * (Vutler's handshake), resolved once `ready` arrives; without it, open is enough.
 */
export function lightReceiver(
  url: string,
  hello: string | undefined,
  onMessage: (d: Delivered) => void,
  onClose: (code: number) => void,
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    let ready = false;
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString()) as {
        type: string;
        chatId: string;
        message?: { id: string; senderId: string | null; createdAt?: string };
      };
      if (f.type === 'ready') {
        ready = true;
        resolve(ws);
      } else if (f.type === 'message.created' && f.message) {
        onMessage({
          chatId: f.chatId,
          messageId: f.message.id,
          senderId: f.message.senderId,
          createdAt: f.message.createdAt,
        });
      }
    });
    ws.on('close', (code) => {
      if (!ready) reject(new Error(`socket closed before ready (${code})`));
      onClose(code);
    });
    ws.once('error', (err) => {
      if (!ready) reject(err);
    });
    ws.once('open', () => {
      if (hello) ws.send(hello);
      else {
        ready = true;
        resolve(ws);
      }
    });
  });
}
