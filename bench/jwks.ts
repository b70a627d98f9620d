// The bearer key phase (issue #14): ticket issuance with the HS256 secret vs with a key from a JWKS
// (RS256, ES256), the key cached. Three fresh memory-store server children alike but for the `jwt`
// option; the JWKS endpoints run in this process. bench/jwks-report.ts renders the result.
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { WsTicketBearerVerifier, type WsTicketModuleOptions } from '../lib/index.js';
import { JwksServer, makeKey, signWith, type TestKey } from '../test/support/jwks-server.js';
import { type ServerChild, startServer } from './children.js';
import { fetchTicket, rotate, serverStats, settle, sleep } from './client.js';
import { BENCH_SECRET, BENCH_USERS, type BenchJwks, benchClaims } from './constants.js';
import type { JwksKey, JwksResult, JwksRow, JwksRun } from './jwks-report.js';
import { spread } from './report.js';

/** How the phase runs: the issuance section's discipline. */
export interface JwksPlan {
  runs: number;
  slices: number;
  /** Seconds per run and row. */
  seconds: number;
  /** autocannon connections. */
  connections: number;
}

/** Bearer tokens handed out round robin (the bench's HS256 `BenchTokens` are one). */
export interface TokenRing {
  next(): string;
}

/** The claims the JWKS rows' servers require. */
const ISSUER = 'https://issuer.bench.invalid/';
const AUDIENCE = 'nestjs-ws-ticket-bench';
/** Untimed seconds per row before the timed runs; the first request fetches the JWKS. */
const WARMUP_SECONDS = 1;
/** The in-process `WsTicketBearerVerifier.verify` measure: rounds, calls per key and round. */
const VERIFY = { rounds: 5, calls: 400 };
/**
 * autocannon's sample interval, milliseconds. It checks the end of a run on each sample tick (1 s
 * by default), so a shorter slice would last a whole second.
 */
const SAMPLE_MS = 50;
/**
 * Pause before a slice's CPU reading, milliseconds: the requests still in flight when autocannon
 * stopped land first.
 */
const SETTLE_MS = 25;

class Tokens implements TokenRing {
  private cursor = 0;
  constructor(private readonly tokens: readonly string[]) {}

  /** The tokens of every bench user, signed with `key` for the JWKS rows' issuer and audience. */
  static async signedWith(key: TestKey): Promise<Tokens> {
    const tokens = await Promise.all(
      Array.from({ length: BENCH_USERS }, (_, i) =>
        signWith(key, benchClaims(i), { issuer: ISSUER, audience: AUDIENCE, expiresIn: 3600 }),
      ),
    );
    return new Tokens(tokens);
  }

  next(): string {
    const token = this.tokens[this.cursor];
    this.cursor = (this.cursor + 1) % this.tokens.length;
    return token;
  }
}

/** A row's state: its server, its tokens, its JWKS endpoint (JWKS rows). */
interface Lane {
  row: JwksRow;
  server: ServerChild;
  tokens: TokenRing;
  jwks?: JwksServer;
}

interface Shot {
  requests: number;
  sent: number;
  seconds: number;
  p50: number;
  p99: number;
}

/** One autocannon run against a lane's ticket endpoint; any refusal or error stops the bench. */
async function shoot(lane: Lane, connections: number, duration: number): Promise<Shot> {
  const url = `${lane.server.url}/auth/ws-ticket`;
  const options: Parameters<typeof autocannon>[0] & { sampleInt: number } = {
    url,
    method: 'POST',
    requests: [
      {
        setupRequest: (request) => ({
          ...request,
          headers: { ...request.headers, authorization: `Bearer ${lane.tokens.next()}` },
        }),
      },
    ],
    connections,
    duration,
    sampleInt: SAMPLE_MS,
  };
  const result = await autocannon(options);
  if (result.errors || result.timeouts || result.non2xx) {
    throw new Error(
      `jwks: issuance run (${lane.row.key}): ${result.errors} errors, ${result.timeouts} ` +
        `timeouts, ${result.non2xx} non-2xx (${JSON.stringify(result.statusCodeStats)})`,
    );
  }
  // Requests written, the ones autocannon gave up on at the end included: the server did them.
  const sent = (result.requests as { sent?: number }).sent ?? result.requests.total;
  return {
    requests: result.requests.total,
    sent,
    seconds: result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
  };
}

/**
 * CPU time of one `verify` of each key's tokens in this process, microseconds: the median over
 * rounds in which the keys take turns (the order rotating), after an untimed round.
 */
async function verifyCost(
  tokens: Record<JwksKey, TokenRing>,
  keys: TestKey[],
): Promise<Record<JwksKey, number>> {
  const jwks = await JwksServer.start(keys);
  try {
    const verifier = (jwt: WsTicketModuleOptions['jwt']) => new WsTicketBearerVerifier({ jwt });
    const secret = verifier({ secret: BENCH_SECRET });
    const remote = verifier({ jwks: { uri: jwks.uri }, issuer: ISSUER, audience: AUDIENCE });
    const measure = async (key: JwksKey) => {
      const verifierOf = key === 'hs256' ? secret : remote;
      const before = process.cpuUsage();
      for (let i = 0; i < VERIFY.calls; i++) {
        await verifierOf.verify(`Bearer ${tokens[key].next()}`);
      }
      const { user, system } = process.cpuUsage(before);
      return (user + system) / VERIFY.calls;
    };
    const keysOf: JwksKey[] = ['hs256', 'rs256', 'es256'];
    const samples: Record<JwksKey, number[]> = { hs256: [], rs256: [], es256: [] };
    // Round -1 is untimed: the JWKS fetch, and V8's optimisation.
    for (let round = -1; round < VERIFY.rounds; round++) {
      for (const key of rotate(keysOf, round + 1)) {
        const cost = await measure(key);
        if (round >= 0) samples[key].push(cost);
      }
    }
    return {
      hs256: spread(samples.hs256).median,
      rs256: spread(samples.rs256).median,
      es256: spread(samples.es256).median,
    };
  } finally {
    await jwks.stop();
  }
}

/**
 * The phase: two jose keys and their JWKS servers, three server children started for it and
 * stopped after, a warm-up per row (the JWKS rows fetch their set then), the timed runs, the
 * JWKS request counts checked, then the in-process verification cost.
 */
export async function jwksPhase(
  hsTokens: TokenRing,
  plan: JwksPlan,
  nodeFlags: string[],
  log: (line: string) => void,
): Promise<JwksResult> {
  const [rsKey, esKey] = await Promise.all([
    makeKey('RS256', 'bench-rs256'),
    makeKey('ES256', 'bench-es256'),
  ]);
  const rsJwks = await JwksServer.start([rsKey]);
  const esJwks = await JwksServer.start([esKey]);
  const jwksOf = (server: JwksServer): BenchJwks => ({
    uri: server.uri,
    issuer: ISSUER,
    audience: AUDIENCE,
  });
  const lanes: Lane[] = [];
  try {
    const started = performance.now();
    const [hs, rs, es, rsTokens, esTokens] = await Promise.all([
      startServer({ variant: 'ticket-memory' }, nodeFlags),
      startServer({ variant: 'ticket-memory', jwks: jwksOf(rsJwks) }, nodeFlags),
      startServer({ variant: 'ticket-memory', jwks: jwksOf(esJwks) }, nodeFlags),
      Tokens.signedWith(rsKey),
      Tokens.signedWith(esKey),
    ]);
    const elapsed = (performance.now() - started).toFixed(0);
    log(`jwks: servers up, ${2 * BENCH_USERS} tokens signed in ${elapsed} ms`);
    // Once round the ring (the cursor ends where it was): the tokens' mean length.
    const meanLength = (tokens: TokenRing) => {
      let sum = 0;
      for (let i = 0; i < BENCH_USERS; i++) sum += tokens.next().length;
      return sum / BENCH_USERS;
    };
    const row = (key: JwksKey, tokens: TokenRing): JwksRow => ({
      key,
      runs: [],
      tokenLength: meanLength(tokens),
    });
    lanes.push(
      { row: row('hs256', hsTokens), server: hs, tokens: hsTokens },
      { row: row('rs256', rsTokens), server: rs, tokens: rsTokens, jwks: rsJwks },
      { row: row('es256', esTokens), server: es, tokens: esTokens, jwks: esJwks },
    );

    // Each row issues one ticket first: its server accepts its tokens, and only the JWKS rows ask.
    for (const lane of lanes) await fetchTicket(lane.server.url, lane.tokens.next());
    const asked = lanes.flatMap((lane) => (lane.jwks ? [lane.jwks.requests] : []));
    if (asked.some((n) => n !== 1)) {
      throw new Error(`jwks: after one ticket per row the JWKS servers got ${asked} requests`);
    }
    log('jwks: warm-up');
    for (const lane of lanes) await shoot(lane, plan.connections, WARMUP_SECONDS);
    const beforeTimed = lanes.map((lane) => lane.jwks?.requests ?? 0);

    for (let rep = 0; rep < plan.runs; rep++) {
      const slices = new Map(lanes.map((lane) => [lane, { shots: [] as Shot[], cpu: 0 }]));
      for (const lane of lanes) await settle(lane.server.url);
      for (let slice = 0; slice < plan.slices; slice++) {
        for (const lane of rotate(lanes, rep + slice)) {
          const state = slices.get(lane)!;
          const before = (await serverStats(lane.server.url)).cpu;
          state.shots.push(await shoot(lane, plan.connections, plan.seconds / plan.slices));
          await sleep(SETTLE_MS);
          state.cpu += (await serverStats(lane.server.url)).cpu - before;
        }
      }
      const line: string[] = [];
      for (const [lane, { shots, cpu }] of slices) {
        const total = (pick: (shot: Shot) => number) => shots.reduce((sum, s) => sum + pick(s), 0);
        const run: JwksRun = {
          rps: total((s) => s.requests) / total((s) => s.seconds),
          p50: spread(shots.map((s) => s.p50)).median,
          p99: spread(shots.map((s) => s.p99)).median,
          cpuPerRequest: cpu / total((s) => s.sent),
        };
        lane.row.runs.push(run);
        line.push(
          `${lane.row.key} ${run.rps.toFixed(0)}/s ${run.cpuPerRequest.toFixed(0)} µs/request`,
        );
      }
      log(`jwks: run ${rep + 1}/${plan.runs}: ${line.join(', ')}`);
    }

    // The JWKS rows measure a cached key only if their set was fetched once, before the clock.
    for (const [i, lane] of lanes.entries()) {
      if (!lane.jwks) continue;
      const total = lane.jwks.requests;
      lane.row.jwksRequests = { total, timed: total - beforeTimed[i] };
    }
    const counts = lanes
      .filter((lane) => lane.row.jwksRequests)
      .map((lane) => `${lane.row.key} ${JSON.stringify(lane.row.jwksRequests)}`);
    log(`jwks: JWKS requests: ${counts.join(', ')}`);
    if (lanes.some((lane) => lane.row.jwksRequests && lane.row.jwksRequests.total !== 1)) {
      throw new Error(
        "jwks: each JWKS server must get exactly one request (the warm-up's), got " +
          counts.join(', '),
      );
    }
  } finally {
    await Promise.all(lanes.map((lane) => lane.server.stop()));
    await rsJwks.stop();
    await esJwks.stop();
  }

  const ring = (key: JwksKey) => lanes.find((lane) => lane.row.key === key)!.tokens;
  const verify = await verifyCost(
    { hs256: ring('hs256'), rs256: ring('rs256'), es256: ring('es256') },
    [rsKey, esKey],
  );
  log(
    `jwks: verify CPU per call: ${Object.entries(verify)
      .map(([key, us]) => `${key} ${us.toFixed(0)} µs`)
      .join(', ')}`,
  );
  return {
    users: BENCH_USERS,
    connections: plan.connections,
    seconds: plan.seconds,
    slices: plan.slices,
    warmup: WARMUP_SECONDS,
    rsaBits: Buffer.from(rsKey.jwk.n ?? '', 'base64url').length * 8,
    rows: lanes.map((lane) => lane.row),
    verify,
    verifyCalls: VERIFY.rounds * VERIFY.calls,
    verifyRounds: VERIFY.rounds,
  };
}
