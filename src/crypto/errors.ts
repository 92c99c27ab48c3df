/**
 * Every failure the crypto module reports is a `CryptoError` with a stable `code`, so callers
 * (HTTP routes, the gateway, the web app) can map it without parsing messages, and so bad input
 * never surfaces as a raw `DOMException`, `RangeError` or — worse — as garbage plaintext.
 */
export type CryptoErrorCode =
  /** A key, nonce, salt, signature or field has the wrong size. */
  | 'bad_length'
  /** Malformed base64/hex/UTF-8/JSON, or a value of the wrong shape. */
  | 'bad_encoding'
  /** An argument is outside what the API accepts (empty id, bad epoch, wrong key type...). */
  | 'bad_input'
  /** KDF or file-header parameters outside the accepted range. */
  | 'bad_params'
  /** An envelope or header carries a version this code does not know. */
  | 'unknown_version'
  /** An envelope or stream ends early, including a file stream missing its final chunk. */
  | 'truncated'
  /** Bytes follow the end of an envelope. */
  | 'trailing_data'
  /** Authenticated decryption failed: wrong key, wrong context (AAD) or tampered bytes. */
  | 'decrypt_failed'
  /** A signature is missing, malformed or does not verify against the expected key. */
  | 'bad_signature'
  /** A public key is invalid or of low order (the X25519 shared secret would be all zero). */
  | 'bad_key'
  /** A recovery phrase is not a valid 24-word BIP39 English phrase. */
  | 'bad_phrase'
  /** The key was unwrapped non-exportable, so it cannot be re-wrapped for someone else. */
  | 'not_extractable'
  /** A membership log breaks a rule, a chain link or does not extend what the caller holds. */
  | 'bad_log'
  /** A log does not contain the prefix an anchor names (shorter, or other entries). */
  | 'bad_anchor'
  /** A chat key does not match the commitment published for its epoch. */
  | 'commitment_mismatch'
  /** The platform lacks WebCrypto or one of the algorithms used. */
  | 'unsupported';

export class CryptoError extends Error {
  override readonly name = 'CryptoError';
  readonly code: CryptoErrorCode;

  constructor(code: CryptoErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export function isCryptoError(err: unknown, code?: CryptoErrorCode): err is CryptoError {
  return err instanceof CryptoError && (code === undefined || err.code === code);
}

/**
 * Runs `fn` and turns any non-`CryptoError` failure into one with `code`. WebCrypto reports
 * everything as `DOMException`s whose names differ between engines, so callers must not see them.
 */
export async function mapErrors<T>(
  code: CryptoErrorCode,
  message: string,
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof CryptoError) throw err;
    throw new CryptoError(code, message, { cause: err });
  }
}
