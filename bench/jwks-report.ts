// What the bearer key phase (bench/jwks.ts) measured, and how bench/RESULTS.md shows it: the
// section's body and its setting line.
import { medianOf, spread, table, withSpread } from './report.js';

/** A row's bearer key: the HS256 secret, or a key from a JWKS. */
export type JwksKey = 'hs256' | 'rs256' | 'es256';

/** One timed run of a row, over all its slices. */
export interface JwksRun {
  /** Tickets issued per second. */
  rps: number;
  /** Latency, milliseconds: median of the slices' percentiles. */
  p50: number;
  p99: number;
  /** Server CPU (user + system, every thread) per request sent, microseconds. */
  cpuPerRequest: number;
}

export interface JwksRow {
  key: JwksKey;
  runs: JwksRun[];
  /** Mean length of the row's bearer tokens, characters (they differ by the signature). */
  tokenLength: number;
  /** Requests its JWKS server received: in all, and during the timed runs (JWKS rows only). */
  jwksRequests?: { total: number; timed: number };
}

export interface JwksResult {
  /** Distinct users the tokens go round robin over. */
  users: number;
  /** autocannon connections. */
  connections: number;
  /** Seconds per run and row, cut into `slices`; untimed seconds per row before the runs. */
  seconds: number;
  slices: number;
  warmup: number;
  /** Modulus of the RS256 key, bits. */
  rsaBits: number;
  rows: JwksRow[];
  /** CPU time of one `WsTicketBearerVerifier.verify` in the bench process, microseconds. */
  verify: Record<JwksKey, number>;
  /** Calls {@link verify} is measured over, per key, in `verifyRounds` rounds (the median's). */
  verifyCalls: number;
  verifyRounds: number;
}

const ALG: Record<JwksKey, string> = { hs256: 'HS256', rs256: 'RS256', es256: 'ES256' };

function label(key: JwksKey, result: JwksResult): string {
  if (key === 'hs256') return 'HS256 secret, `jwt: { secret }`';
  const curve = key === 'rs256' ? `RSA ${result.rsaBits}` : 'P-256';
  return `${ALG[key]} (${curve}) from a JWKS, cached`;
}

function rowOf(result: JwksResult, key: JwksKey): JwksRow {
  return result.rows.find((r) => r.key === key)!;
}

const median = (row: JwksRow, pick: (run: JwksRun) => number) => medianOf(row.runs, pick)!;

export function jwksSetting(result: JwksResult): string {
  return (
    'Bearer keys: three fresh memory-store server children alike but for `jwt` (HS256 secret; ' +
    `RS256 and ES256 keys from a JWKS served by the bench, cached); issuance as in section 2, ` +
    `${result.seconds} s per run and row after ${result.warmup} s of warm-up, tokens of ` +
    `${result.users} users round robin`
  );
}

/**
 * One sentence on what sets the rows apart, from the figures: how dear each signature is to check,
 * and whether that check or the rest of an issuance dominates the server's CPU per request.
 */
export function jwksReading(result: JwksResult): string {
  const hs = rowOf(result, 'hs256');
  const cpu = (key: JwksKey) => median(rowOf(result, key), (r) => r.cpuPerRequest);
  const rate = (key: JwksKey) =>
    median(rowOf(result, key), (r) => r.rps) / median(hs, (r) => r.rps);
  const { verify } = result;
  const [dearest, other] = (['rs256', 'es256'] as const).toSorted((a, b) => verify[b] - verify[a]);
  const share = verify[dearest] / cpu(dearest);
  const f0 = (n: number) => n.toFixed(0);
  const signed = (n: number) => `${n < 0 ? '−' : '+'}${f0(Math.abs(n))}`;
  const dominates =
    share >= 0.5
      ? 'so the signature check dominates what an issuance costs'
      : 'so the rest of an issuance (HTTP, Nest, the ticket and its store) dominates, not the ' +
        'signature check';
  return (
    `${ALG[dearest]} is the dearest signature to check (${f0(verify[dearest])} µs of CPU per ` +
    `\`verify\`, against ${f0(verify[other])} µs for ${ALG[other]} and ${f0(verify.hs256)} µs for ` +
    `HS256): over HS256 the server spends ${signed(cpu('rs256') - cpu('hs256'))} µs (RS256) and ` +
    `${signed(cpu('es256') - cpu('hs256'))} µs (ES256) per request, where verification alone ` +
    `accounts for ${signed(verify.rs256 - verify.hs256)} / ${signed(verify.es256 - verify.hs256)} ` +
    `µs, and the JWKS rows issue at ${rate('rs256').toFixed(2)}× / ${rate('es256').toFixed(2)}× ` +
    `HS256's rate; verification is ${f0(100 * share)}% of the ${f0(cpu(dearest))} µs the server ` +
    `spends per ${ALG[dearest]} request, ${dominates}.`
  );
}

/** The body of the section: what was done, the table, the paired ratios, the reading. */
export function jwksSection(result: JwksResult): string[] {
  const out: string[] = [];
  const length = (key: JwksKey) => rowOf(result, key).tokenLength.toFixed(0);
  out.push(
    "What a bearer key from an identity provider's JWKS costs the ticket endpoint, against the " +
      'HS256 secret of the sections above. Three memory-store server children started for this ' +
      'section, alike but for the `jwt` option: `{ secret }` (HS256), and `{ jwks: { uri }, ' +
      `issuer, audience }\` with an RS256 key (RSA ${result.rsaBits}) and with an ES256 key ` +
      '(P-256), each in a JWKS of its own made by jose and served over HTTP on 127.0.0.1 by the ' +
      `bench process. The tokens of ${result.users} users (valid 1 h, \`iss\` and \`aud\` as ` +
      `configured on the JWKS rows) are signed with each key: about ${length('hs256')}, ` +
      `${length('rs256')} and ${length('es256')} characters. The workload is section 2's: ` +
      `autocannon, ${result.connections} connections, \`POST /auth/ws-ticket\`, each request ` +
      "with the next user's bearer token; after an untimed warm-up of " +
      `${result.warmup} s per row, ${result.seconds} s per run and row in ${result.slices} ` +
      'slices, the rows taking turns (the order rotating), each run after a minor GC. The ' +
      "warm-up's first token makes each JWKS row fetch its key set; the bench then stops unless " +
      'no JWKS server was asked again by the end of the timed runs (the "JWKS requests" ' +
      'column), so these rows measure verification with a cached key, as a server does between ' +
      "the module's refetches (a `kid` it does not know, or a set older than `cacheMaxAge`, " +
      "600 s). Server CPU is the server process's user+system time, libuv's threads (where " +
      "jose's WebCrypto calls run) included, read around each slice over the requests sent. " +
      "Verify CPU is one `WsTicketBearerVerifier.verify('Bearer …')` made by hand in the bench " +
      `process with the same options (JWKS rows: a JWKS server of its own), CPU time per call, the ` +
      `median of ${result.verifyRounds} rounds of ${result.verifyCalls / result.verifyRounds} ` +
      'calls per key (the keys taking turns): the signature and claims checks without HTTP or Nest.',
    '',
  );
  const hs = rowOf(result, 'hs256');
  const f0 = (n: number) => n.toFixed(0);
  const f2 = (n: number) => n.toFixed(2);
  const ratio = (row: JwksRow, pick: (run: JwksRun) => number) =>
    `${f2(median(row, pick) / median(hs, pick))}×`;
  const rows = result.rows.map((r) => {
    const jwks = r.jwksRequests;
    return [
      label(r.key, result),
      withSpread(spread(r.runs.map((x) => x.rps)), f0),
      ratio(r, (x) => x.rps),
      withSpread(spread(r.runs.map((x) => x.p50)), f2),
      ratio(r, (x) => x.p50),
      withSpread(spread(r.runs.map((x) => x.p99)), f2),
      ratio(r, (x) => x.p99),
      withSpread(spread(r.runs.map((x) => x.cpuPerRequest)), f0),
      ratio(r, (x) => x.cpuPerRequest),
      f0(result.verify[r.key]),
      jwks ? `${jwks.total} (${jwks.timed} in the timed runs)` : '—',
    ];
  });
  out.push(
    table(
      [
        'Bearer key',
        'Requests/s',
        '× HS256',
        'p50 ms',
        '× HS256',
        'p99 ms',
        '× HS256',
        'Server CPU µs/request',
        '× HS256',
        'Verify CPU µs',
        'JWKS requests',
      ],
      rows,
    ),
    '',
  );
  // The rows of a run shared its minutes: their ratio within each run shows what drift between
  // runs hides in the medians.
  const paired = result.rows
    .filter((r) => r.key !== 'hs256')
    .map((r) => {
      const ratios = r.runs.map((run, i) => run.rps / hs.runs[i].rps);
      return `${ALG[r.key]} ${withSpread(spread(ratios), (n) => n.toFixed(3))}`;
    });
  out.push(`Requests/s ÷ HS256 within each run: ${paired.join(', ')}.`, '');
  out.push(jwksReading(result), '');
  return out;
}
