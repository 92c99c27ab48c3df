/** Memory wire types shared by the server and the browser-safe SDK (types only). */

export interface MemoryKeyView {
  agentName: string;
  keyId: string;
  /** base64 of the key wrapped under the owner's MK (docs/CRYPTO.md). */
  wrappedKey: string;
  createdAt: string;
}

export interface MemoryGrantView {
  grantId: string;
  agentName: string;
  resourceType: 'memory';
  /** The memory key id. */
  resourceId: string;
  expiresAt: string | null;
}

export interface MemoryEntryView {
  id: string;
  agentName: string;
  keyId: string;
  writtenBy: 'agent' | 'user';
  /** base64 of the signed, encrypted entry envelope. */
  envelope: string;
  createdAt: string;
  updatedAt: string;
}
