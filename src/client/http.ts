/** The SDK's HTTP layer: JSON in and out, problem+json errors as `VutlerApiError`. Browser-safe. */

export class VutlerApiError extends Error {
  override name = 'VutlerApiError';
  constructor(
    readonly status: number,
    /** The problem type without its `urn:vutler:problem:` prefix, e.g. `invalid-credentials`. */
    readonly type: string,
    message: string,
    readonly requestId: string | undefined,
    readonly body: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** Raised by the SDK itself (never sent to the server), e.g. recovery words that do not match. */
export class VutlerClientError extends Error {
  override name = 'VutlerClientError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface RequestOptions {
  method?: string;
  body?: unknown;
  /** Overrides the client's current session token for this call (e.g. a recovery session). */
  token?: string;
  query?: Record<string, string>;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export class Http {
  token: string | undefined;
  /**
   * Cookie-session mode (the web app): the HttpOnly `vutler_session` cookie authenticates, so no
   * bearer token is kept in page memory; writes echo the session's CSRF token instead.
   */
  csrfToken: string | undefined;

  constructor(
    readonly baseUrl: string,
    private readonly fetchImpl: FetchLike,
    readonly cookieSession = false,
    /** Sends requests whose body is bytes (chunk uploads); default `fetchImpl`. */
    private readonly bytesFetch: FetchLike = fetchImpl,
  ) {}

  /** A GET whose answer is text (e.g. an NDJSON export); errors as in `request`. */
  async requestText(path: string): Promise<string> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const res = await this.fetchImpl(new URL(path, this.baseUrl).toString(), { headers });
    const text = await res.text();
    if (!res.ok) {
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(text) as Record<string, unknown>;
      } catch {
        // not a problem document
      }
      throw new VutlerApiError(
        res.status,
        String(json.type ?? 'http').replace(/^urn:vutler:problem:/, ''),
        String(json.detail ?? json.title ?? `HTTP ${res.status}`),
        (json.requestId as string | undefined) ?? res.headers.get('x-request-id') ?? undefined,
        json,
      );
    }
    return text;
  }

  /**
   * A request whose body and answer are bytes (file chunks and content). Errors are mapped like
   * `request`'s; the caller reads or cancels the returned body.
   */
  async raw(
    path: string,
    opts: { method?: string; body?: Uint8Array; signal?: AbortSignal } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (opts.body) headers['content-type'] = 'application/octet-stream';
    const method = opts.method ?? 'GET';
    // Chunk PUTs and deletes are writes too: in cookie mode they need the CSRF echo.
    if (!this.token && this.csrfToken && !SAFE_METHODS.has(method))
      headers['x-csrf-token'] = this.csrfToken;
    const send = opts.body ? this.bytesFetch : this.fetchImpl;
    const res = await send(new URL(path, this.baseUrl).toString(), {
      method,
      headers,
      ...(this.cookieSession ? { credentials: 'same-origin' as const } : {}),
      body: opts.body as BodyInit | undefined,
      signal: opts.signal,
    });
    if (res.ok) return res;
    const text = await res.text();
    let json: Record<string, unknown> = {};
    try {
      json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      // keep the empty body
    }
    throw new VutlerApiError(
      res.status,
      String(json.type ?? 'http').replace(/^urn:vutler:problem:/, ''),
      String(json.detail ?? json.title ?? `HTTP ${res.status}`),
      (json.requestId as string | undefined) ?? res.headers.get('x-request-id') ?? undefined,
      json,
    );
  }

  async request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
    const url = new URL(path, this.baseUrl);
    for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v);
    const headers: Record<string, string> = { accept: 'application/json' };
    const token = opts.token ?? this.token;
    if (token) headers.authorization = `Bearer ${token}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const method = opts.method ?? (opts.body === undefined ? 'GET' : 'POST');
    if (!token && this.csrfToken && !SAFE_METHODS.has(method))
      headers['x-csrf-token'] = this.csrfToken;
    const res = await this.fetchImpl(url.toString(), {
      method,
      headers,
      ...(this.cookieSession ? { credentials: 'same-origin' as const } : {}),
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    let json: Record<string, unknown> = {};
    try {
      json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      // fall through with an empty body
    }
    if (!res.ok) {
      const type = String(json.type ?? 'http').replace(/^urn:vutler:problem:/, '');
      throw new VutlerApiError(
        res.status,
        type,
        String(json.detail ?? json.title ?? `HTTP ${res.status}`),
        (json.requestId as string | undefined) ?? res.headers.get('x-request-id') ?? undefined,
        json,
      );
    }
    return json as T;
  }
}
