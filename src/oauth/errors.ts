/** An OAuth error answer (RFC 6749 §5.2, RFC 7591 §3.2.2): `{ error, error_description }`. */
export class OAuthError extends Error {
  override name = 'OAuthError';
  constructor(
    readonly code:
      | 'invalid_request'
      | 'invalid_client'
      | 'invalid_grant'
      | 'unauthorized_client'
      | 'unsupported_grant_type'
      | 'unsupported_response_type'
      | 'invalid_scope'
      | 'invalid_target'
      | 'access_denied'
      | 'invalid_redirect_uri'
      | 'invalid_client_metadata'
      | 'unsupported_token_type',
    readonly description: string,
    readonly status = 400,
  ) {
    super(description);
  }

  body() {
    return { error: this.code, error_description: this.description };
  }
}
