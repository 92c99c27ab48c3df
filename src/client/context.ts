/**
 * What the sub-clients (chats, trust) need from `VutlerClient`: its HTTP layer, the unlocked
 * identity and this device's key store. They depend on this interface, not on index.ts, so the
 * modules form no import cycle (the MCP SDK's `Transport` seam, in small).
 */
import type { IdentityKeys, IdentityPublic } from '../crypto/identity.ts';
import type { Http } from './http.ts';
import type { DeviceState } from './keystore.ts';

export interface Me {
  id: string;
  identity: IdentityKeys;
  identityPublic: IdentityPublic;
}

export interface ClientContext {
  readonly http: Http;
  /** The logged-in, unlocked account; throws `VutlerClientError('locked')` otherwise. */
  unlocked(): Me;
  /** This device's key store, scoped to the logged-in account. */
  device(): DeviceState;
}
