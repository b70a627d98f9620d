/** Which server a bench child process runs. */
export type Variant = 'bare' | 'jwt' | 'ticket-memory' | 'ticket-redis' | 'ticket-ws' | 'heap';

/** What the bench passes to a server child (as JSON in argv[2]). */
export interface ServerSpec {
  variant: Variant;
  /** `redis://…` for `ticket-redis`. */
  redisUrl?: string;
  /** Ticket lifetime, in seconds (the module's default when unset). */
  ttl?: number;
  /** MemoryTicketStore sweep interval, in milliseconds (`heap` only). */
  sweepInterval?: number;
  /** Mounts the heap hooks (`/bench/heap/*`, forced full GCs) on a ticket variant too. */
  heapHooks?: boolean;
  /** The module's `maxConnectionsPerUser` (its default, 50, when unset). */
  maxConnectionsPerUser?: number | false;
  /**
   * Bearer keys from this JWKS (`jwt: { jwks: { uri }, issuer, audience }`) instead of the HS256
   * {@link BENCH_SECRET}. Ticket variants only.
   */
  jwks?: BenchJwks;
  /**
   * The telemetry section's row (ticket variants only): `none` sets `openTelemetry: false`;
   * `prometheus` does too and subscribes the prom-client collector; `otel` registers an
   * OpenTelemetry SDK globally and sets `openTelemetry: true`. Unset: the module's default, which
   * records into the no-op API (the bench installs `@opentelemetry/api`, with no SDK registered).
   */
  telemetry?: BenchTelemetry;
}

/** What observes a telemetry section server: nothing, the prom-client collector or an OTel SDK. */
export type BenchTelemetry = 'none' | 'prometheus' | 'otel';

/** A JWKS the bench serves, and the claims its tokens carry. */
export interface BenchJwks {
  uri: string;
  issuer: string;
  audience: string;
}

/** The first line a server child prints on stdout once it listens. */
export interface ServerReady {
  url: string;
  pid: number;
}

/** HS256 secret shared by the bench client and every server. Bench only. */
export const BENCH_SECRET = 'bench-secret-0123456789abcdef0123456789abcdef';

/** The namespace (Socket.IO) or path (raw WebSocket) every variant's gateway lives on. */
export const NAMESPACE = '/chat';

/**
 * How many distinct users the bench spreads its tickets over, so that the module's default
 * per-user issuance limit (60 a minute) is never what the bench measures.
 */
export const BENCH_USERS = 5000;

/** Claims of bench user `i`. */
export function benchClaims(i: number): { sub: string; name: string } {
  return { sub: `bench-user-${i}`, name: `Bench User ${i}` };
}

/** What `GET /bench/stats` answers. */
export interface ServerStats {
  /** `process.cpuUsage()` user + system, in microseconds. */
  cpu: number;
  /** `process.memoryUsage().heapUsed`, in bytes. */
  heapUsed: number;
  /** `process.memoryUsage().rss`, in bytes (heap hooks only). */
  rss?: number;
  /** Highest RSS sampled since `POST /bench/heap/peak` started sampling, in bytes. */
  peakRss?: number;
  /** Time spent in garbage collection pauses since the server started, milliseconds. */
  gc?: number;
  /** Tickets held by the memory store (`heap` variant only). */
  tickets?: number;
}
