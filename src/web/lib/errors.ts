import { VutlerApiError, VutlerClientError } from '../../client/http.ts';
import { isCryptoError } from '../../crypto/errors.ts';

export interface ShownError {
  message: string;
  details: string[];
  requestId?: string;
}

/** What a person reads when something fails: the API's problem+json detail, never a stack. */
export function describeError(err: unknown): ShownError {
  if (err instanceof VutlerApiError) {
    const details = Array.isArray(err.body.errors)
      ? (err.body.errors as { path?: string; message?: string }[]).map((e) =>
          e.path ? `${e.path}: ${e.message ?? ''}` : String(e.message ?? ''),
        )
      : [];
    let message = err.message;
    if (err.status === 429) {
      const retry = Number(err.body.retryAfter ?? 0);
      message = `Too many attempts. ${retry > 0 ? `Try again in ${Math.ceil(retry)} s.` : 'Try again shortly.'}`;
    } else if (err.type === 'invalid-credentials') {
      message = 'Wrong email or passphrase.';
    } else if (err.type === 'invalid-recovery') {
      message = 'That recovery phrase does not match this account.';
    }
    return { message, details, requestId: err.requestId };
  }
  if (err instanceof VutlerClientError) return { message: err.message, details: [] };
  if (isCryptoError(err, 'decrypt_failed'))
    return { message: 'Your keys could not be opened with this passphrase.', details: [] };
  if (err instanceof TypeError && /fetch|network/i.test(err.message))
    return { message: 'The server cannot be reached. Check your connection.', details: [] };
  return { message: err instanceof Error ? err.message : 'Something went wrong.', details: [] };
}
