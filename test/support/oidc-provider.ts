import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { exportJWK, type JWK } from 'jose';
import type { TestKey } from './jwks-server.js';

// A real OpenID provider (panva's oidc-provider, the certified Node implementation) on 127.0.0.1,
// issuing JWT access tokens over HTTP from its /token endpoint, for the tests that check the `jwks`
// key source against what a provider really publishes and signs rather than against tokens the
// tests sign themselves.
//
// What it issues, read from a decoded token: a client_credentials access token carries
//   header  { alg: 'RS256' | 'ES256', typ: 'at+jwt', kid: <the signing key's kid> }
//   payload { jti, sub, iat, exp, client_id, iss: <issuer>, aud: <resource>, scope? }
// with `sub` equal to `client_id` (no end user takes part in that grant: oidc-provider falls back
// to the client id). So each client here is named after the user it stands for ('user-1'…) and the
// module's default `getUserId` (the `sub` claim) reads it unchanged.

/** The resource (API) the app under test is: tokens for it are signed with RS256. */
export const API_RS256 = 'urn:ws-ticket:api';
/** A second resource of the same app, whose tokens are signed with ES256. */
export const API_ES256 = 'urn:ws-ticket:api-es256';
/** Another API of the same provider: its tokens must not open this app (wrong audience). */
export const OTHER_API = 'urn:other:api';

/** Signing algorithm of each resource's access tokens. */
const RESOURCES: Readonly<Record<string, 'RS256' | 'ES256'>> = {
  [API_RS256]: 'RS256',
  [API_ES256]: 'ES256',
  [OTHER_API]: 'RS256',
};

/** Access token lifetime of clients without their own, in seconds. */
const ACCESS_TOKEN_TTL = 600;

/** A confidential client allowed the client_credentials grant. */
export interface OidcClient {
  /** The client id, which is also the `sub` of its access tokens. */
  id: string;
  /** Lifetime of its access tokens, in seconds (default 600). */
  accessTokenTTL?: number;
}

export interface OidcProviderOptions {
  /**
   * Signing keys (made by `makeKey` of jwks-server.ts), published at `jwks_uri`. Each resource
   * signs with the first key of its algorithm: give one RS256 and one ES256 key.
   */
  keys: TestKey[];
  clients: OidcClient[];
}

/** What the app reads from `/.well-known/openid-configuration`. */
export interface OidcDiscovery {
  issuer: string;
  jwks_uri: string;
  token_endpoint: string;
}

/** The part of oidc-provider used here (the package ships no types). */
interface ProviderInstance {
  callback(): (request: IncomingMessage, response: ServerResponse) => void;
  on(event: 'server_error', listener: (ctx: unknown, error: Error) => void): unknown;
}
interface ProviderModule {
  default: new (issuer: string, configuration: Record<string, unknown>) => ProviderInstance;
  errors: { InvalidTarget: new () => Error };
}

let providerModule: Promise<ProviderModule> | undefined;

/**
 * Imports oidc-provider once. On Node < 22 its import prints an "Unsupported runtime" notice (it
 * runs fine): that one line is dropped so that test output stays quiet; everything else passes.
 */
function loadProviderModule(): Promise<ProviderModule> {
  providerModule ??= (async () => {
    const warn = console.warn;
    console.warn = (...parts: unknown[]) => {
      if (!String(parts[0]).startsWith('oidc-provider WARNING: Unsupported runtime')) {
        warn(...parts);
      }
    };
    try {
      // A variable specifier: the package has no type declarations to resolve.
      const specifier = 'oidc-provider';
      return (await import(specifier)) as ProviderModule;
    } finally {
      console.warn = warn;
    }
  })();
  return providerModule;
}

/**
 * A Map-backed storage adapter. Configured so that oidc-provider does not print its warning about
 * the built-in development adapter; client_credentials with JWT access tokens stores nothing
 * anyway (static clients live in the configuration), so expiry is not handled.
 */
function mapAdapter(): (model: string) => Record<string, (...args: never[]) => Promise<unknown>> {
  const store = new Map<string, Record<string, unknown>>();
  return (model) => ({
    upsert: async (id: string, payload: Record<string, unknown>) => {
      store.set(`${model}:${id}`, payload);
    },
    find: async (id: string) => store.get(`${model}:${id}`),
    findByUid: async () => undefined,
    findByUserCode: async () => undefined,
    consume: async (id: string) => {
      const payload = store.get(`${model}:${id}`);
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    },
    destroy: async (id: string) => {
      store.delete(`${model}:${id}`);
    },
    revokeByGrantId: async () => {},
  });
}

/**
 * oidc-provider on 127.0.0.1, port 0, issuer `http://127.0.0.1:<port>`, serving its own discovery
 * document, `jwks_uri` and token endpoint. Its request listener is wrapped to count requests by
 * path (how often the app fetched the keys); it can be stopped (connection refused) and started
 * again on the same port and issuer, with the same or rotated keys, as a redeployed provider.
 */
export class OidcTestProvider {
  /** The provider's answers to `/.well-known/openid-configuration` (read at start). */
  discovery!: OidcDiscovery;
  /** Errors the provider reported as `server_error` (a misconfiguration here), for messages. */
  readonly serverErrors: Error[] = [];
  private readonly requests = new Map<string, number>();
  private readonly secrets = new Map<string, string>();
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  private port = 0;
  private keys: TestKey[];

  private constructor(private readonly options: OidcProviderOptions) {
    this.keys = options.keys;
    for (const client of options.clients) {
      this.secrets.set(client.id, `secret-of-${client.id}-${crypto.randomUUID()}`);
    }
  }

  /** Starts a provider and reads its discovery document. */
  static async start(options: OidcProviderOptions): Promise<OidcTestProvider> {
    const provider = new OidcTestProvider(options);
    await provider.listen();
    const response = await fetch(`${provider.issuer}/.well-known/openid-configuration`);
    if (response.status !== 200) throw new Error(`discovery answered ${response.status}`);
    provider.discovery = (await response.json()) as OidcDiscovery;
    return provider;
  }

  /** `http://127.0.0.1:<port>`, the same across restarts. */
  get issuer(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Requests received at the discovered `jwks_uri`, across restarts. */
  get jwksRequests(): number {
    return this.requests.get(new URL(this.discovery.jwks_uri).pathname) ?? 0;
  }

  /**
   * A fresh access token of `clientId` for `resource`, from the token endpoint (client_credentials
   * grant, client_secret_basic, RFC 8707 `resource` parameter), as a backend client gets one.
   */
  async accessToken(clientId: string, resource: string): Promise<string> {
    const secret = this.secrets.get(clientId);
    if (secret === undefined) throw new Error(`no client ${clientId}`);
    const response = await fetch(this.discovery.token_endpoint, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource }),
    });
    const body = (await response.json()) as { access_token?: string; error?: string };
    if (response.status !== 200 || typeof body.access_token !== 'string') {
      const errors = this.serverErrors.map((error) => error.message).join('; ');
      throw new Error(
        `token endpoint answered ${response.status} ${body.error ?? ''}${errors ? ` (${errors})` : ''}`,
      );
    }
    return body.access_token;
  }

  /** Stops listening and drops open connections: the app's fetches get "connection refused". */
  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    const server = this.server;
    this.server = undefined;
    if (!server?.listening) return;
    server.close();
    await once(server, 'close');
  }

  /**
   * Starts again on the same port (same issuer, same clients), as the provider redeployed: with
   * `keys`, it signs with and publishes those instead (a key rotation).
   */
  async restart(keys?: TestKey[]): Promise<void> {
    await this.stop();
    if (keys) this.keys = keys;
    await this.listen();
  }

  private async listen(): Promise<void> {
    const { default: Provider } = await loadProviderModule();
    let handle: ((request: IncomingMessage, response: ServerResponse) => void) | undefined;
    const server = createServer((request, response) => {
      const path = new URL(request.url ?? '/', this.issuer).pathname;
      this.requests.set(path, (this.requests.get(path) ?? 0) + 1);
      // No keep-alive: a client (the app's fetch, this process's own) must never reuse a
      // connection of a stopped provider, which would fail a request to the restarted one.
      response.setHeader('connection', 'close');
      if (handle) handle(request, response);
      else response.writeHead(503).end();
    });
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    const start = async () => {
      server.listen(this.port, '127.0.0.1');
      await once(server, 'listening');
      this.port = (server.address() as AddressInfo).port;
    };
    // The issuer names the port: known on a restart (the provider is ready before it listens),
    // picked by the system on the first start (nobody knows the port before it is ready).
    if (this.port === 0) await start();
    const provider = new Provider(this.issuer, await this.configuration());
    provider.on('server_error', (_ctx, error) => this.serverErrors.push(error));
    handle = provider.callback();
    if (!server.listening) await start();
    this.server = server;
  }

  private async configuration(): Promise<Record<string, unknown>> {
    const { errors } = await loadProviderModule();
    const keys: JWK[] = await Promise.all(
      this.keys.map(async (key) => ({
        ...(await exportJWK(key.privateKey)),
        kid: key.kid,
        alg: key.alg,
        use: 'sig',
      })),
    );
    const ttls = new Map(this.options.clients.map((client) => [client.id, client.accessTokenTTL]));
    return {
      jwks: { keys },
      adapter: mapAdapter(),
      clients: this.options.clients.map((client) => ({
        client_id: client.id,
        client_secret: this.secrets.get(client.id),
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      })),
      features: {
        clientCredentials: { enabled: true },
        devInteractions: { enabled: false },
        resourceIndicators: {
          enabled: true,
          // RFC 8707 resource → the resource server: its audience, JWT format, signing algorithm.
          getResourceServerInfo: (_ctx: unknown, resource: string) => {
            const alg = RESOURCES[resource];
            if (alg === undefined) throw new errors.InvalidTarget();
            return {
              scope: 'ws',
              audience: resource,
              accessTokenFormat: 'jwt',
              accessTokenTTL: ACCESS_TOKEN_TTL,
              jwt: { sign: { alg } },
            };
          },
        },
      },
      ttl: {
        ClientCredentials: (
          _ctx: unknown,
          token: { resourceServer?: { accessTokenTTL?: number } },
          client: { clientId: string },
        ) => ttls.get(client.clientId) ?? token.resourceServer?.accessTokenTTL ?? ACCESS_TOKEN_TTL,
      },
    };
  }
}
