/**
 * Vutler crypto core, v1 (docs/CRYPTO.md). Isomorphic: WebCrypto + hash-wasm + @scure/bip39 only,
 * no Node built-ins, so the same code runs in the browser client, the server and the gateway.
 */

export {
  type Bytes,
  base64Decode,
  base64Encode,
  concat,
  constantTimeEqual,
  hexDecode,
  hexEncode,
  randomBytes,
  utf8Decode,
  utf8Encode,
  wipe,
} from './bytes.ts';
export {
  CHAT_KEY_WRAP_BYTES,
  type ChatKey,
  type ChatKeyRecipient,
  generateChatKey,
  type Signer,
  type UnwrapChatKeyParams,
  unwrapChatKey,
  verifyChatKeyWrapSignature,
  wrapChatKey,
} from './chatkeys.ts';
export { CryptoError, type CryptoErrorCode, isCryptoError } from './errors.ts';
export {
  type ChunkCipher,
  createChunkCipher,
  DEFAULT_CHUNK_SIZE,
  decodeFileHeader,
  encodeFileHeader,
  encryptedFileSize,
  type FileHeader,
  type FileKey,
  type FileMeta,
  type FileReadKeys,
  generateFileKey,
  MAX_CHUNK_SIZE,
  MIN_CHUNK_SIZE,
  newFileHeader,
  openFileMeta,
  openPreview,
  sealFileMeta,
  sealPreview,
  unwrapFileKey,
  wrapFileKey,
} from './files.ts';
export {
  createFileDecryptStream,
  createFileEncryptStream,
  decryptFileBytes,
  encryptFileBytes,
  type FileStreamOptions,
} from './filestream.ts';
export {
  createGrant,
  type GatewayKeys,
  GRANT_ENVELOPE_BYTES,
  type GrantContext,
  type GrantResourceType,
  type GrantSubject,
  gatewayPublicKeysToJson,
  generateGatewayKeys,
  type OpenedGrant,
  openGrant,
  parseGatewayKeys,
  verifyGrantSignature,
} from './grants.ts';
export {
  assertIdentityPublic,
  createIdentity,
  fingerprint,
  type IdentityKeys,
  type IdentityPublic,
  type IdentityPublicJson,
  identityPublicFromJson,
  identityPublicToJson,
  type KeyPair,
  type NewIdentity,
  type PublicKeys,
  safetyNumber,
  unwrapIdentity,
  verifyIdentityPublic,
} from './identity.ts';
export { Label } from './labels.ts';
export {
  createMasterKey,
  type MasterKeyWrapper,
  type NewMasterKey,
  rewrapMasterKey,
  unwrapMasterKey,
} from './masterkey.ts';
export {
  type Attachment,
  checkMessageEnvelope,
  decodeMessageBody,
  encodeMessageBody,
  type MessageBody,
  type MessageContext,
  openMessage,
  type SealedMessage,
  sealMessage,
  verifyMessageSignature,
} from './messages.ts';
export {
  checkKdfParams,
  DEFAULT_KDF_COST,
  derivePassphraseKeys,
  fakeKdfParams,
  isOnKdfLadder,
  KDF_COST_LADDER,
  type KdfParams,
  type KdfParamsJson,
  kdfParamsFromJson,
  kdfParamsToJson,
  MIN_KDF_COST,
  newKdfParams,
  type PassphraseKeys,
} from './passphrase.ts';
export {
  assertRecoveryPublicKey,
  checkRecoveryVerifier,
  confirmRecoveryWords,
  deriveRecoverySecrets,
  generateRecoveryPhrase,
  isValidRecoveryPhrase,
  normalizeRecoveryPhrase,
  pickConfirmationPositions,
  RECOVERY_NONCE_BYTES,
  RECOVERY_WORDS,
  type RecoverySecrets,
  recoveryPhraseFromEntropy,
  recoveryVerifierOfPublicKey,
  signRecoveryChallenge,
  verifyRecoveryChallenge,
} from './recovery.ts';
export { createShare, type OpenedShare, openShare, type ShareMode } from './shares.ts';
export { assertUuidV7, isUuidV7, uuidv7, uuidv7Timestamp } from './uuid.ts';
