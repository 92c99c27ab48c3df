import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { v2 as webdav } from 'webdav-server';

export interface TestWebDav {
  url: string;
  username: string;
  password: string;
  dir: string;
  /** Stops answering (connections dropped, the port closed); the directory is kept. */
  stop: () => Promise<void>;
  /** Answers again on the same port, with the same directory. */
  start: () => Promise<void>;
  close: () => Promise<void>;
}

/** A real WebDAV server (webdav-server, in-process) on 127.0.0.1, basic auth, a temp directory. */
export async function startWebDav(): Promise<TestWebDav> {
  const dir = await mkdtemp(path.join(tmpdir(), 'vutler-dav-'));
  const users = new webdav.SimpleUserManager();
  const user = users.addUser('vutler', 'dav-password', false);
  const privileges = new webdav.SimplePathPrivilegeManager();
  privileges.setRights(user, '/', ['all']);
  const server = new webdav.WebDAVServer({
    hostname: '127.0.0.1',
    port: 0,
    httpAuthentication: new webdav.HTTPBasicAuthentication(users, 'vutler'),
    privilegeManager: privileges,
    rootFileSystem: new webdav.PhysicalFileSystem(dir),
  });
  const first = await new Promise<import('node:http').Server>((resolve) =>
    server.start((s) => resolve(s as import('node:http').Server)),
  );
  const { port } = first.address() as AddressInfo;
  let http: import('node:http').Server | undefined = first;
  const stop = async () => {
    const h = http;
    http = undefined;
    if (!h) return;
    const closed = new Promise<void>((resolve) => server.stop(() => resolve()));
    h.closeAllConnections();
    await closed;
  };
  return {
    url: `http://127.0.0.1:${port}/`,
    username: 'vutler',
    password: 'dav-password',
    dir,
    stop,
    start: async () => {
      if (http) return;
      http = await new Promise((resolve) =>
        server.start(port, (s) => resolve(s as import('node:http').Server)),
      );
    },
    close: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
