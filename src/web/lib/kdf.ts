import type { Bytes } from '../../crypto/bytes.ts';
import { CryptoError, type CryptoErrorCode } from '../../crypto/errors.ts';
import type { derivePassphraseKeys, KdfParams, PassphraseKeys } from '../../crypto/passphrase.ts';
import { Store } from './store.ts';

declare const __KDF_WORKER_URL__: string;

/** How many derivations are running and since when: the progress indicator's state. */
export const kdfProgress = new Store<{ running: number; since: number }>({ running: 0, since: 0 });

interface Reply {
  id: number;
  ok: boolean;
  authKey?: Bytes;
  kek?: CryptoKey;
  code?: CryptoErrorCode;
  message?: string;
}

let worker: Worker | undefined;
let nextId = 1;
const pending = new Map<
  number,
  { resolve: (k: PassphraseKeys) => void; reject: (e: Error) => void }
>();

function getWorker(): Worker {
  if (worker) return worker;
  worker = new Worker(__KDF_WORKER_URL__, { type: 'module', name: 'vutler-kdf' });
  worker.onmessage = (ev: MessageEvent<Reply>) => {
    const p = pending.get(ev.data.id);
    if (!p) return;
    pending.delete(ev.data.id);
    if (ev.data.ok && ev.data.authKey && ev.data.kek) {
      p.resolve({ authKey: ev.data.authKey, kek: ev.data.kek });
    } else {
      p.reject(
        new CryptoError(ev.data.code ?? 'bad_params', ev.data.message ?? 'Key derivation failed'),
      );
    }
  };
  worker.onerror = (ev) => {
    ev.preventDefault();
    for (const p of pending.values())
      p.reject(new Error('The key derivation worker failed to start.'));
    pending.clear();
    worker = undefined;
  };
  return worker;
}

/** Same contract as `derivePassphraseKeys`, run in the worker. */
export const deriveInWorker: typeof derivePassphraseKeys = (
  passphrase: string,
  params: KdfParams,
  opts: { allowWeakParams?: boolean } = {},
) => {
  const id = nextId++;
  const s = kdfProgress.get();
  kdfProgress.set({ running: s.running + 1, since: s.running ? s.since : Date.now() });
  const done = () => {
    const now = kdfProgress.get();
    kdfProgress.set({ running: Math.max(0, now.running - 1), since: now.since });
  };
  return new Promise<PassphraseKeys>((resolve, reject) => {
    pending.set(id, { resolve, reject });
    getWorker().postMessage({
      id,
      passphrase,
      params,
      allowWeakParams: opts.allowWeakParams === true,
    });
  }).finally(done);
};

/** Sign out: the worker may still hold a passphrase in its heap; end it. */
export function stopKdfWorker(): void {
  worker?.terminate();
  worker = undefined;
}
