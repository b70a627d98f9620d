import {
  createRemoteJWKSet,
  customFetch,
  errors,
  type FlattenedJWSInput,
  type JWSHeaderParameters,
} from 'jose';

/** Largest JWKS response read, in bytes: real sets weigh a few kilobytes. */
export const MAX_JWKS_BYTES = 512 * 1024;

/**
 * A key set that cannot answer now: its endpoint failed, or failed within the cooldown and may not
 * be asked again yet. The ticket endpoint answers 503 `jwks_unavailable` with `Retry-After`.
 */
export class JwksUnavailableError extends Error {
  override readonly name = 'JwksUnavailableError';
  constructor(
    /** Seconds until the key set may be fetched again. */
    readonly retryAfter: number,
    options?: { cause?: unknown },
  ) {
    super('The JWKS endpoint is unavailable.', options);
  }
}

/** {@link JwksKeySet}'s settings, in milliseconds. */
export interface JwksKeySetSettings {
  uri: URL;
  timeout: number;
  cooldown: number;
  cacheMaxAge: number;
  headers: Readonly<Record<string, string>>;
}

/**
 * The keys of one JWKS source, fetched and cached by `jose`'s remote key set, with the policy the
 * module promises on top (jose alone refetches a stale set before answering, and after a failure on
 * every request):
 * - at most one fetch per `cooldown`, whatever asks for it: an unknown `kid`, a stale set, or a
 *   retry after a failure; requests that need a fetch meanwhile get {@link JwksUnavailableError}
 *   after a failure, or jose's "no matching key" after a success (the `kid` is not the provider's);
 * - a set older than `cacheMaxAge` is refetched in the background, the cached keys answering
 *   meanwhile, and for as long as the endpoint stays down;
 * - concurrent requests share one fetch, bounded by `timeout` and {@link MAX_JWKS_BYTES}.
 */
export class JwksKeySet {
  private readonly remote: ReturnType<typeof createRemoteJWKSet>;
  /** When the last fetch started, then when it ended (`performance.now()`), whatever its outcome. */
  private lastFetch = Number.NEGATIVE_INFINITY;
  /** When the keys were last fetched successfully; `undefined` until then. */
  private loadedAt: number | undefined;
  private failed = false;
  private pending: Promise<void> | undefined;

  constructor(
    private readonly settings: JwksKeySetSettings,
    private readonly onFailure: (error: unknown) => void,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.remote = createRemoteJWKSet(settings.uri, {
      timeoutDuration: settings.timeout,
      // This class decides when to fetch: jose's own refetches are switched off.
      cooldownDuration: Number.POSITIVE_INFINITY,
      cacheMaxAge: Number.POSITIVE_INFINITY,
      headers: { ...settings.headers },
      [customFetch]: limitedFetch,
    });
  }

  /** The key for a token, as `jose.jwtVerify` asks for it. */
  readonly getKey = async (header: JWSHeaderParameters, token: FlattenedJWSInput) => {
    if (this.loadedAt === undefined) {
      await this.fetch();
    } else if (this.now() - this.loadedAt >= this.settings.cacheMaxAge && this.mayFetch()) {
      // Stale: refreshed in the background, the cached keys answer meanwhile.
      this.fetch().catch(() => {});
    }
    try {
      return await this.remote(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      if (this.pending === undefined && !this.mayFetch()) {
        if (this.failed) throw this.unavailable();
        throw error;
      }
      await this.fetch();
      return await this.remote(header, token);
    }
  };

  /** Fetches the set, or joins the fetch in flight; rejects when the cooldown forbids one. */
  private fetch(): Promise<void> {
    if (this.pending) return this.pending;
    if (!this.mayFetch()) return Promise.reject(this.unavailable());
    this.lastFetch = this.now();
    const pending = this.remote
      .reload()
      .then(
        () => {
          this.loadedAt = this.now();
          this.lastFetch = this.loadedAt;
          this.failed = false;
        },
        (error: unknown) => {
          // The cooldown runs from the failure: a fetch slower than the cooldown must not be
          // retried by the very next request (a hanging provider asked back to back).
          this.lastFetch = this.now();
          this.failed = true;
          this.onFailure(error);
          throw this.unavailable(error);
        },
      )
      .finally(() => {
        if (this.pending === pending) this.pending = undefined;
      });
    this.pending = pending;
    return pending;
  }

  private mayFetch(): boolean {
    return this.now() - this.lastFetch >= this.settings.cooldown;
  }

  private unavailable(cause?: unknown): JwksUnavailableError {
    const wait = this.lastFetch + this.settings.cooldown - this.now();
    return new JwksUnavailableError(Math.max(1, Math.ceil(wait / 1000)), { cause });
  }
}

/**
 * `fetch`, reading at most {@link MAX_JWKS_BYTES} of the answer: jose reads whatever the endpoint
 * sends. The request's timeout signal covers the body too.
 */
async function limitedFetch(url: string, init: RequestInit): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    if ((error as Error)?.name === 'TimeoutError') throw error;
    // fetch says "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND, a certificate) is its cause.
    const cause = (error as { cause?: { code?: unknown; message?: unknown } })?.cause;
    const reason = cause?.code ?? cause?.message;
    throw new Error(`The JWKS request failed${typeof reason === 'string' ? `: ${reason}` : ''}.`, {
      cause: error,
    });
  }
  if (response.status !== 200 || response.body === null) {
    await response.body?.cancel();
    throw new Error(`The JWKS endpoint answered HTTP ${response.status}, not 200 with a body.`);
  }
  const declared = Number(response.headers.get('content-length'));
  const tooLarge = () => new Error(`The JWKS response is larger than ${MAX_JWKS_BYTES} bytes.`);
  if (declared > MAX_JWKS_BYTES) {
    await response.body.cancel();
    throw tooLarge();
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_JWKS_BYTES) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return new Response(Buffer.concat(chunks), { status: 200, headers: response.headers });
}
