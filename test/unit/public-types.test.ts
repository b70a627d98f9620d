import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ts from 'typescript';

// The published declarations, as a consumer's compiler reads them: strict, no skipLibCheck,
// exactOptionalPropertyTypes. Tests run from the repository root (npm test) after build:all.
const root = `${process.cwd()}/`;
const libDir = `${root}dist/lib/`;
const entries = [
  `${libDir}index.d.ts`,
  `${libDir}client/index.d.ts`,
  `${libDir}ws/index.d.ts`,
  `${libDir}prometheus/index.d.ts`,
];

/*
 * Consumer code, compiled with the declarations. The files are virtual but sit in the repository
 * root, so `nestjs-ws-ticket` resolves to this package by its own name, through its `exports`.
 */
const consumerDir = `${root}consumer-fixtures/`;
const consumerFiles: Record<string, string> = {
  // Express' Request (what `@Req()` gives a controller) is a WsTicketRequest as it is.
  'express-request.ts': `
    import type { Request } from 'express';
    import type { WsTicketRequest, WsTicketService } from 'nestjs-ws-ticket';
    export const asTicketRequest = (request: Request): WsTicketRequest => request;
    export const issue = (service: WsTicketService, request: Request) =>
      service.issueForBearer(request.headers.authorization, request);
  `,
  // Values read from the environment are string | undefined; undefined means "left out".
  'env-options.ts': `
    import { MemoryTicketStore, WsTicketModule, type WsTicketModuleOptions } from 'nestjs-ws-ticket';
    import { WsTicketWsAdapter } from 'nestjs-ws-ticket/ws';
    import type { INestApplication } from '@nestjs/common';
    const env = process.env;
    const ttl = env.WS_TICKET_TTL ? Number(env.WS_TICKET_TTL) : undefined;
    export const root = WsTicketModule.forRoot({
      jwt: { secret: env.JWT_SECRET, publicKey: env.JWT_PUBLIC_KEY, issuer: env.JWT_ISSUER, audience: env.JWT_AUDIENCE },
      ttl,
      param: env.WS_TICKET_PARAM,
      keyPrefix: env.WS_TICKET_PREFIX,
      path: env.WS_TICKET_PATH,
      isGlobal: env.WS_TICKET_GLOBAL ? true : undefined,
      store: env.WS_TICKET_MEMORY ? new MemoryTicketStore({ sweepInterval: ttl }) : undefined,
      bind: { ip: env.WS_TICKET_BIND_IP ? true : undefined, trustedProxies: ttl },
      issueLimit: { limit: ttl, window: ttl },
      refreshWindow: env.WS_TICKET_REFRESH_WINDOW ? Number(env.WS_TICKET_REFRESH_WINDOW) : undefined,
      maxConnectionsPerUser: env.WS_TICKET_MAX_CONNECTIONS_PER_USER ? Number(env.WS_TICKET_MAX_CONNECTIONS_PER_USER) : undefined,
      onConnectionLimit: env.WS_TICKET_ON_CONNECTION_LIMIT === 'close-oldest' ? 'close-oldest' : undefined,
      connectionLease: ttl,
    });
    export const factory = (): WsTicketModuleOptions => ({ jwt: { secret: env.JWT_SECRET } });
    export const async = WsTicketModule.forRootAsync({ useFactory: factory, path: env.WS_TICKET_PATH });
    export const adapter = (app: INestApplication) => new WsTicketWsAdapter(app, { maxPayload: ttl });
  `,
  // An app's own endpoint passes its guard's user (exp possibly undefined) to issue(), and env
  // algorithm names become the exported union.
  'own-endpoint.ts': `
    import { WS_TICKET_JWT_ALGORITHMS, type WsTicketJwtAlgorithm, type WsTicketRequest, type WsTicketService } from 'nestjs-ws-ticket';
    interface AuthUser { id: string; exp?: number }
    export const issue = (service: WsTicketService, user: AuthUser, request: WsTicketRequest) =>
      service.issue({ sub: user.id, exp: user.exp }, request);
    export const algorithms = (process.env.JWT_ALGORITHMS ?? 'HS256')
      .split(',')
      .map((name) => name.trim())
      .filter((name): name is WsTicketJwtAlgorithm => (WS_TICKET_JWT_ALGORITHMS as readonly string[]).includes(name));
  `,
  // A custom transport answers refreshes with the exported ack type, and narrows on ok.
  'refresh-ack.ts': `
    import { WS_TICKET_REFRESH_EVENT, type WsTicketRefreshAck, type WsTicketService, type WsTicketSession } from 'nestjs-ws-ticket';
    export async function refresh(
      service: WsTicketService,
      current: WsTicketSession,
      data: { uuid?: unknown },
      send: (event: typeof WS_TICKET_REFRESH_EVENT, ack: WsTicketRefreshAck) => void,
    ): Promise<number | null> {
      try {
        const next = await service.refreshSession(current, data.uuid);
        const ack: WsTicketRefreshAck = { ok: true, expiresAt: next.sessionExpiresAt ?? null };
        send(WS_TICKET_REFRESH_EVENT, ack);
        return ack.ok ? ack.expiresAt : null;
      } catch {
        send(WS_TICKET_REFRESH_EVENT, { ok: false, code: 'ticket_invalid' });
        return null;
      }
    }
  `,
  // A custom transport counts its TCP connections against maxConnectionsPerUser; a custom store
  // implements the connection slots with the exported result type.
  'connection-cap.ts': `
    import type { Socket } from 'node:net';
    import { TicketStore, type TicketStoreConnectionSlot, type WsTicketConnectionLost, type WsTicketService, WS_TICKET_CLOSE_CODES } from 'nestjs-ws-ticket';
    export const hold = async (service: WsTicketService, userId: string, socket: Socket): Promise<void> => {
      const lost: WsTicketConnectionLost = (code) => socket.destroy(new Error(code));
      const letGo: () => void = await service.holdConnection(userId, socket, lost);
      socket.once('end', letGo);
    };
    export const count = (service: WsTicketService): Promise<number> => service.connectionCount('alice');
    export const cap: number | false = ({} as WsTicketService).maxConnectionsPerUser;
    export const evictedCode: 4409 = WS_TICKET_CLOSE_CODES.connection_limit;
    export abstract class SlotStore extends TicketStore {
      override async acquireConnection(key: string, id: string, limit: number, lease: number, evictOldest: boolean): Promise<TicketStoreConnectionSlot> {
        return { acquired: limit > 0 && key !== id && lease > 0 && !evictOldest, evicted: [] };
      }
    }
  `,
  // An IdP's JWKS beside the app's own HS256 tokens, from env values (string | undefined), and the
  // verifier injected into an app's own controller; the 503 code is in the exported union.
  'identity-providers.ts': `
    import { WsTicketBearerVerifier, WsTicketErrorCode, WsTicketModule, type WsTicketClaims, type WsTicketJwksOptions, type WsTicketJwtOptions } from 'nestjs-ws-ticket';
    const env = process.env;
    const jwks: WsTicketJwksOptions = { uri: env.JWT_JWKS_URI ?? 'https://idp.example/jwks', cooldown: env.JWKS_COOLDOWN ? Number(env.JWKS_COOLDOWN) : undefined, headers: { 'x-api-key': 'k' } };
    const sources: readonly WsTicketJwtOptions[] = [
      { secret: env.JWT_SECRET, issuer: 'my-app' },
      { jwks, issuer: env.JWT_ISSUER, audience: env.JWT_AUDIENCE ? [env.JWT_AUDIENCE] : undefined, algorithms: ['RS256', 'ES256'] },
    ];
    export const root = WsTicketModule.forRoot({ jwt: sources, getUserId: (claims) => (claims.iss === 'my-app' ? claims.sub : String(claims.oid)) });
    export const single = WsTicketModule.forRoot({ jwt: { jwks: { uri: new URL('https://idp.example/jwks') } } });
    export const unavailable: WsTicketErrorCode = WsTicketErrorCode.JWKS_UNAVAILABLE;
    export class MeController {
      constructor(private readonly bearer: WsTicketBearerVerifier) {}
      me(authorization: string | undefined): Promise<WsTicketClaims> {
        return this.bearer.verify(authorization);
      }
    }
  `,
  // A Redis Cluster from an env list, node-redis' shape, a cluster client of the app's own; a
  // custom store that carries the channel between instances; a registry that spans instances.
  'cluster.ts': `
    import { createCluster } from 'redis';
    import { MemoryTicketStore, RedisTicketStore, type RedisTicketStoreClusterOptions, type TicketStoreMessageListener, type TicketStoreUnsubscribe, type WsTicketConnectionRegistry } from 'nestjs-ws-ticket';
    const nodes = (process.env.REDIS_CLUSTER_NODES ?? '').split(',');
    export const fromList = new RedisTicketStore({ cluster: nodes });
    const options: RedisTicketStoreClusterOptions = { cluster: { rootNodes: nodes.map((url) => ({ url })) } };
    export const fromRootNodes = new RedisTicketStore(options);
    export const fromClient = new RedisTicketStore({ client: createCluster({ rootNodes: [{ url: 'redis://h:7000' }] }) });
    export class BusStore extends MemoryTicketStore {
      override async publish(channel: string, message: string): Promise<void> {
        void channel;
        void message;
      }
      override async subscribe(channel: string, listener: TicketStoreMessageListener): Promise<TicketStoreUnsubscribe> {
        listener(channel);
        return async () => {};
      }
    }
    export const registry: WsTicketConnectionRegistry = { disconnectUser: () => 0, spansInstances: true };
  `,
  // The raw ws adapter's handshake goes wherever the service takes a handshake.
  'upgrade-handshake.ts': `
    import type { IncomingMessage } from 'node:http';
    import type { WsTicketHandshake } from 'nestjs-ws-ticket';
    import { WsTicketWsAdapter, type WsTicketUpgradeHandshake } from 'nestjs-ws-ticket/ws';
    export const asHandshake = (handshake: WsTicketUpgradeHandshake): WsTicketHandshake => handshake;
    export class TaggedWsAdapter extends WsTicketWsAdapter {
      protected override handshakeOf(request: IncomingMessage): WsTicketUpgradeHandshake {
        const handshake: WsTicketHandshake = super.handshakeOf(request);
        return { ...super.handshakeOf(request), query: { ...handshake.query, tagged: true } };
      }
    }
  `,
  // A subclass overrides createIOServer with the adapter's own aliases; it is still Nest's IoAdapter.
  'io-subclass.ts': `
    import type { INestApplicationContext } from '@nestjs/common';
    import type { IoAdapter } from '@nestjs/platform-socket.io';
    import { WsTicketIoAdapter, type WsTicketIoServer, type WsTicketIoServerOptions, type WsTicketIoSocket, type WsTicketSession } from 'nestjs-ws-ticket';
    export class TunedIoAdapter extends WsTicketIoAdapter {
      override createIOServer(port: number, options?: WsTicketIoServerOptions): WsTicketIoServer {
        return super.createIOServer(port, options && { ...options, pingInterval: 10_000 });
      }
      protected override authenticate(socket: WsTicketIoSocket): Promise<WsTicketSession> {
        return super.authenticate(socket);
      }
    }
    export const asNest = (app: INestApplicationContext): IoAdapter => new TunedIoAdapter(app);
  `,
  // Events read from node:diagnostics_channel with the exported payload types; OpenTelemetry
  // switched off from the environment; Prometheus metrics in the app's own prom-client registry.
  // Room rules typed by their pattern, static rules for one user type, the acks narrowed on ok, and
  // the provider that takes users out of rooms and sends to them.
  'rooms.ts': `
    import { Injectable } from '@nestjs/common';
    import { WsTicketModule, WsTicketRoom, WsTicketRooms, type WsTicketRoomAck, type WsTicketRoomContext, type WsTicketRoomLeft, WS_TICKET_JOIN_EVENT, WS_TICKET_LEFT_EVENT } from 'nestjs-ws-ticket';
    interface User { id: string; teams: string[] }
    @Injectable()
    export class Rules {
      @WsTicketRoom('team:{team}:channel:{channel}')
      channel(user: User, { team, channel }: { team: string; channel: string }, context: WsTicketRoomContext): boolean {
        return user.teams.includes(team) && channel !== '' && context.reason !== 'recovery';
      }
      @WsTicketRoom('lobby')
      async lobby(): Promise<boolean> { return true; }
    }
    export const module = WsTicketModule.forRoot<User>({
      rooms: { news: true, 'team:{team}': (user, { team }) => team !== undefined && user.teams.includes(team) },
      maxRoomsPerSocket: 20,
      roomJoinLimit: { limit: 10, window: 5 },
    });
    export async function unshare(rooms: WsTicketRooms, userId: string): Promise<number> {
      await rooms.to('order:1').emit('order-updated', { id: 1 });
      return rooms.removeFromRoom(userId, 'order:1');
    }
    export function answer(ack: WsTicketRoomAck, left: WsTicketRoomLeft): string {
      return ack.ok ? ack.room : \`\${ack.code} \${ack.room ?? ''} \${left.code} \${WS_TICKET_JOIN_EVENT} \${WS_TICKET_LEFT_EVENT}\`;
    }
  `,
  'telemetry.ts': `
    import { subscribe } from 'node:diagnostics_channel';
    import { Registry } from 'prom-client';
    import { WS_TICKET_CHANNELS, WS_TICKET_METRICS, WsTicketModule, type WsTicketAcceptEvent, type WsTicketErrorCode, type WsTicketRefuseEvent, type WsTicketSessionEndEvent, type WsTicketTransport } from 'nestjs-ws-ticket';
    import { collectWsTicketMetrics, type WsTicketPrometheusOptions } from 'nestjs-ws-ticket/prometheus';
    const env = process.env;
    export const off = WsTicketModule.forRoot({ jwt: { secret: env.JWT_SECRET }, openTelemetry: false });
    export const fromEnv = WsTicketModule.forRoot({ jwt: { secret: env.JWT_SECRET }, openTelemetry: env.OTEL ? env.OTEL === 'true' : undefined });
    export const accepted: Array<{ transport: WsTicketTransport; namespace: string; seconds: number }> = [];
    subscribe(WS_TICKET_CHANNELS.accept, (message) => {
      const { transport, namespace, durationMs } = message as WsTicketAcceptEvent;
      accepted.push({ transport, namespace, seconds: durationMs / 1000 });
    });
    subscribe(WS_TICKET_CHANNELS.refuse, (message) => {
      const event = message as WsTicketRefuseEvent;
      const where: string = event.stage === 'issue' ? 'http' : (event.namespace ?? '/');
      console.log(event.code, event.transport, where);
    });
    export const closedBy: Array<WsTicketErrorCode | 'client'> = [];
    subscribe(WS_TICKET_CHANNELS.sessionEnd, (message) => {
      closedBy.push((message as WsTicketSessionEndEvent).code ?? 'client');
    });
    const registry = new Registry();
    const options: WsTicketPrometheusOptions = { registry };
    export const stop: () => void = collectWsTicketMetrics(options);
    export const global: () => void = collectWsTicketMetrics();
    export const text: Promise<string> = registry.metrics();
    export const handshakes = \`\${WS_TICKET_METRICS.handshakes.name}_total\`;
  `,
};
const consumerPaths = Object.keys(consumerFiles).map((name) => `${consumerDir}${name}`);

const options: ts.CompilerOptions = {
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2022,
  lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
  types: ['node'],
  strict: true,
  exactOptionalPropertyTypes: true,
  skipLibCheck: false,
  // As every Nest app compiles (`nest new`): Nest's decorators are the legacy ones.
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
  noEmit: true,
};
const host = ts.createCompilerHost(options);
const virtual = (file: string) =>
  file.startsWith(consumerDir) ? consumerFiles[file.slice(consumerDir.length)] : undefined;
const { fileExists, readFile, getSourceFile } = host;
host.fileExists = (file) => virtual(file) !== undefined || fileExists.call(host, file);
host.readFile = (file) => virtual(file) ?? readFile.call(host, file);
host.getSourceFile = (file, language, ...rest) => {
  const text = virtual(file);
  return text === undefined
    ? getSourceFile.call(host, file, language, ...rest)
    : ts.createSourceFile(file, text, language);
};
const program = ts.createProgram([...entries, ...consumerPaths], options, host);
const checker = program.getTypeChecker();

function diagnosticsOf(file?: string): string[] {
  const source = file === undefined ? undefined : program.getSourceFile(file);
  if (file !== undefined) assert.ok(source, `${file} is not in the program`);
  return ts
    .getPreEmitDiagnostics(program, source)
    .map(
      (d) => `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`,
    );
}

function resolved(symbol: ts.Symbol): ts.Symbol {
  return symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
}

function exportsOf(file: string): ts.Symbol[] {
  const source = program.getSourceFile(file);
  assert.ok(source, `${file} was not built`);
  const module = checker.getSymbolAtLocation(source);
  assert.ok(module, `${file} is not a module`);
  return checker.getExportsOfModule(module).map(resolved);
}

function isPrivate(node: ts.Node): boolean {
  return (
    ts.canHaveModifiers(node) &&
    (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.PrivateKeyword)
  );
}

/** Named types (and `typeof` targets) the declarations of `symbol` mention, with where. */
function referencesOf(symbol: ts.Symbol): Array<{ target: ts.Symbol; where: string }> {
  const found: Array<{ target: ts.Symbol; where: string }> = [];
  for (const declaration of symbol.declarations ?? []) {
    const visit = (node: ts.Node): void => {
      if (isPrivate(node)) return;
      let name: ts.Node | undefined;
      if (ts.isTypeReferenceNode(node)) name = node.typeName;
      else if (ts.isTypeQueryNode(node)) name = node.exprName;
      else if (ts.isExpressionWithTypeArguments(node)) name = node.expression;
      const target = name && checker.getSymbolAtLocation(name);
      // A class built by a function (ConfigurableModuleBuilder's) is a value no consumer names.
      const builtBase =
        ts.isExpressionWithTypeArguments(node) &&
        target !== undefined &&
        !(resolved(target).flags & ts.SymbolFlags.Type);
      if (target && !builtBase && !(target.flags & ts.SymbolFlags.TypeParameter)) {
        found.push({ target: resolved(target), where: `${symbol.name}: ${node.getText()}` });
      }
      ts.forEachChild(node, visit);
    };
    visit(declaration);
  }
  return found;
}

describe('Public types', () => {
  it('compile for a consumer with skipLibCheck off and exactOptionalPropertyTypes on', () => {
    assert.deepEqual(diagnosticsOf(), []);
  });

  for (const file of consumerPaths) {
    const name = file.slice(consumerDir.length);
    it(`accept consumer code: ${name}`, () => {
      assert.deepEqual(diagnosticsOf(file), []);
    });
  }

  for (const [what, line] of [
    ['a string ttl', "WsTicketModule.forRoot({ ttl: '30' });"],
    [
      'a string openTelemetry (an unconverted env value)',
      "WsTicketModule.forRoot({ openTelemetry: 'true' });",
    ],
  ]) {
    it(`reject consumer code that breaks the types (${what}), so the fixtures prove something`, () => {
      const broken = ts.createProgram(
        [`${consumerDir}broken.ts`],
        options,
        Object.assign(Object.create(host) as ts.CompilerHost, {
          getSourceFile: (file: string, language: ts.ScriptTarget) =>
            file === `${consumerDir}broken.ts`
              ? ts.createSourceFile(
                  file,
                  `import { WsTicketModule } from 'nestjs-ws-ticket';
                   ${line}`,
                  language,
                )
              : host.getSourceFile(file, language),
          fileExists: (file: string) => file === `${consumerDir}broken.ts` || host.fileExists(file),
        }),
        program,
      );
      const codes = ts
        .getPreEmitDiagnostics(broken, broken.getSourceFile(`${consumerDir}broken.ts`))
        .map((d) => d.code);
      assert.deepEqual(codes, [2322]);
    });
  }

  it("reject a room rule whose parameters are not the pattern's, so the typed params prove something", () => {
    const source = `import { WsTicketRoom } from 'nestjs-ws-ticket';
      export class Rules {
        @WsTicketRoom('order:{id}')
        order(_user: unknown, { orderId }: { orderId: string }): boolean { return orderId !== ''; }
      }`;
    const file = `${consumerDir}broken-room.ts`;
    const broken = ts.createProgram(
      [file],
      options,
      Object.assign(Object.create(host) as ts.CompilerHost, {
        getSourceFile: (name: string, language: ts.ScriptTarget) =>
          name === file
            ? ts.createSourceFile(name, source, language)
            : host.getSourceFile(name, language),
        fileExists: (name: string) => name === file || host.fileExists(name),
      }),
      program,
    );
    const codes = ts.getPreEmitDiagnostics(broken, broken.getSourceFile(file)).map((d) => d.code);
    assert.ok(codes.includes(1241), `expected TS1241, got ${codes.join(', ')}`);
  });

  it('take Socket.IO types from Nest, never from an import of socket.io of their own', () => {
    // An app's socket.io may be another copy than Nest's: our declarations must not name theirs.
    const naming = program
      .getSourceFiles()
      .filter((source) => source.fileName.startsWith(libDir))
      .filter((source) =>
        source.statements.some(
          (statement) =>
            (ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) &&
            statement.moduleSpecifier !== undefined &&
            ts.isStringLiteral(statement.moduleSpecifier) &&
            /^socket\.io(\/|$)/.test(statement.moduleSpecifier.text),
        ),
      )
      .map((source) => source.fileName.slice(libDir.length));
    assert.deepEqual(naming, []);
  });

  it('name only types the entry points export, so consumers can name them too', () => {
    const exported = new Set(entries.flatMap(exportsOf));
    const unreachable = new Set<string>();
    for (const symbol of exported) {
      for (const { target, where } of referencesOf(symbol)) {
        const inLibrary = (target.declarations ?? []).some((d) =>
          d.getSourceFile().fileName.startsWith(libDir),
        );
        if (inLibrary && !exported.has(target)) unreachable.add(`${target.name} (in ${where})`);
      }
    }
    assert.deepEqual([...unreachable].sort(), []);
  });

  it('export the async-options types that useClass and useExisting users implement', () => {
    const names = new Set(exportsOf(entries[0]).map((symbol) => symbol.name));
    for (const name of [
      'WsTicketModuleOptions',
      'WsTicketModuleExtras',
      'WsTicketModuleRootOptions',
      'WsTicketModuleAsyncOptions',
      'WsTicketOptionsFactory',
    ]) {
      assert.ok(names.has(name), `${name} is not exported from the main entry`);
    }
  });
});
