/// <reference lib="webworker" />
/**
 * Argon2id off the page's thread: 64 MiB and ~0.5 s of hashing would otherwise freeze the UI.
 * The passphrase arrives by postMessage and the derived keys go back the same way (the AES key
 * as a non-extractable CryptoKey, which structured clone carries without exposing it).
 */
import { derivePassphraseKeys, type KdfParams } from '../../crypto/passphrase.ts';

interface DeriveRequest {
  id: number;
  passphrase: string;
  params: KdfParams;
  allowWeakParams: boolean;
}

const scope = self as unknown as DedicatedWorkerGlobalScope;

scope.onmessage = async (ev: MessageEvent<DeriveRequest>) => {
  const { id, passphrase, params, allowWeakParams } = ev.data;
  try {
    const keys = await derivePassphraseKeys(passphrase, params, { allowWeakParams });
    scope.postMessage({ id, ok: true, authKey: keys.authKey, kek: keys.kek });
  } catch (err) {
    const e = err as { name?: string; code?: string; message?: string };
    scope.postMessage({ id, ok: false, name: e.name, code: e.code, message: e.message });
  }
};
