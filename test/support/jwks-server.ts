import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { type CryptoKey, exportJWK, exportSPKI, generateKeyPair, type JWK, SignJWT } from 'jose';

/** An asymmetric algorithm a test key is made for. */
export type KeyAlg = 'RS256' | 'RS384' | 'PS256' | 'ES256' | 'ES384' | 'ES512';

/** A signing key made by jose: the private half signs, the public half is served. */
export interface TestKey {
  kid: string;
  alg: KeyAlg;
  privateKey: CryptoKey;
  /** The public JWK as a JWKS serves it (`kid`, `alg`, `use: 'sig'`). */
  jwk: JWK;
  /** The public key as PEM (SPKI), e.g. for an alg-confusion attempt. */
  pem: string;
}

/** Makes a key pair for `alg` named `kid`. */
export async function makeKey(alg: KeyAlg, kid: string): Promise<TestKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, jwk, pem: await exportSPKI(publicKey) };
}

/** What {@link signWith} puts in a token besides `claims`. */
export interface SignOptions {
  issuer?: string;
  audience?: string | string[];
  /** Seconds from now; `null`: no `exp`. Default 600. Negative: already expired. */
  expiresIn?: number | null;
  /** The header's `kid` (default the key's; `null`: none). */
  kid?: string | null;
}

/** Signs a JWT with a test key (`sub` and the other claims as given). */
export function signWith(
  key: TestKey,
  claims: Record<string, unknown>,
  options: SignOptions = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const kid = options.kid === undefined ? key.kid : options.kid;
  const jwt = new SignJWT(claims)
    .setProtectedHeader(kid === null ? { alg: key.alg } : { alg: key.alg, kid })
    .setIssuedAt(now);
  const { expiresIn = 600 } = options;
  if (expiresIn !== null) jwt.setExpirationTime(now + expiresIn);
  if (options.issuer !== undefined) jwt.setIssuer(options.issuer);
  if (options.audience !== undefined) jwt.setAudience(options.audience);
  return jwt.sign(key.privateKey);
}

/**
 * Builds a JWT by hand from any header, claims and HMAC key (`null`: no signature, as `alg: none`
 * has): the tokens no honest library would sign, such as an HS256 token keyed with a public key.
 */
export function forgeJwt(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  hmacKey: string | Buffer | null,
): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signed = `${part(header)}.${part(claims)}`;
  if (hmacKey === null) return `${signed}.`;
  return `${signed}.${createHmac('sha256', hmacKey).update(signed).digest('base64url')}`;
}

/**
 * How the JWKS endpoint answers: the keys, 503, never (the request hangs until the client gives
 * up), invalid JSON, a body far over any sane size (declared in Content-Length; `huge-chunked`:
 * streamed without a length; `gzip-huge`: a small gzip body that inflates far over it), a
 * redirect to the keys (which must not be followed), or headers at once and then a body that
 * stops halfway (`stall-body`: a timeout must cover the body too).
 */
export type JwksMode =
  | 'ok'
  | 'error'
  | 'hang'
  | 'garbage'
  | 'huge'
  | 'huge-chunked'
  | 'gzip-huge'
  | 'redirect'
  | 'stall-body';

/** 4 MiB of JSON padding, inflated from a few kilobytes of gzip in `gzip-huge` mode. */
const PADDING = 4 * 1024 * 1024;

/**
 * A real HTTP JWKS endpoint on 127.0.0.1, port 0, serving keys made by jose at `/jwks`. It counts
 * the requests it receives (what a flood of unknown `kid`s must not multiply), serves whatever
 * `keys` holds at the time of each request (rotation), and can fail in the ways a provider does
 * ({@link JwksMode}), or be stopped (connection refused) and started again on the same port.
 */
export class JwksServer {
  /** Keys served now: replace to rotate. */
  keys: TestKey[];
  mode: JwksMode = 'ok';
  /** JWKS requests received, whatever the answer. */
  requests = 0;
  /** The request headers of the last JWKS request. */
  lastHeaders: IncomingHttpHeaders | undefined;
  private server: Server;
  private readonly sockets = new Set<Socket>();
  private port = 0;

  private constructor(keys: TestKey[]) {
    this.keys = keys;
    this.server = this.makeServer();
  }

  /** Starts a server serving `keys`. */
  static async start(keys: TestKey[]): Promise<JwksServer> {
    const server = new JwksServer(keys);
    await server.listen();
    return server;
  }

  /** `http://127.0.0.1:<port>/jwks` */
  get uri(): string {
    return `http://127.0.0.1:${this.port}/jwks`;
  }

  /** Stops listening and drops open connections: fetches get "connection refused". */
  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    if (!this.server.listening) return;
    this.server.close();
    await once(this.server, 'close');
  }

  /** Listens again on the same port. */
  async restart(): Promise<void> {
    await this.stop();
    this.server = this.makeServer();
    await this.listen();
  }

  private async listen(): Promise<void> {
    this.server.listen(this.port, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
  }

  private makeServer(): Server {
    const server = createServer((request, response) => this.answer(request, response));
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    return server;
  }

  private answer(request: IncomingMessage, response: ServerResponse): void {
    // The query is the app's business (a tenant, a key): the path alone names the set.
    const path = new URL(request.url ?? '/', 'http://jwks.test').pathname;
    if (path === '/moved') {
      // Where `redirect` points: served, so that a client following redirects would get keys.
      response
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ keys: this.keys.map((key) => key.jwk) }));
      return;
    }
    if (path !== '/jwks') {
      response.writeHead(404).end();
      return;
    }
    this.requests++;
    this.lastHeaders = request.headers;
    switch (this.mode) {
      case 'hang':
        return;
      case 'error':
        response.writeHead(503).end();
        return;
      case 'garbage':
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"keys": [');
        return;
      case 'huge': {
        // Valid JSON, 4 MB: only a reader that stops early survives it unharmed.
        const padding = 'x'.repeat(4 * 1024 * 1024);
        const body = JSON.stringify({ keys: this.keys.map((key) => key.jwk), padding });
        response.writeHead(200, { 'content-type': 'application/json' }).end(body);
        return;
      }
      case 'huge-chunked': {
        // The same size with no Content-Length: only a reader that counts what it reads stops.
        response.writeHead(200, { 'content-type': 'application/json' });
        response.write(`{"keys": ${JSON.stringify(this.keys.map((key) => key.jwk))}, "padding": "`);
        const chunk = 'x'.repeat(64 * 1024);
        const write = (left: number): void => {
          if (left <= 0 || response.destroyed) {
            if (!response.destroyed) response.end('"}');
            return;
          }
          if (response.write(chunk)) write(left - chunk.length);
          else response.once('drain', () => write(left - chunk.length));
        };
        write(PADDING);
        return;
      }
      case 'gzip-huge': {
        const body = JSON.stringify({
          keys: this.keys.map((key) => key.jwk),
          padding: 'x'.repeat(PADDING),
        });
        response
          .writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' })
          .end(gzipSync(body));
        return;
      }
      case 'stall-body':
        response.writeHead(200, { 'content-type': 'application/json' });
        response.write('{"keys": [');
        return;
      case 'redirect':
        response.writeHead(302, { location: '/moved' }).end();
        return;
      default:
        response
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ keys: this.keys.map((key) => key.jwk) }));
    }
  }
}
