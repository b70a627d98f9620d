// A scale section server child: `node scale-server.js '<ScaleServerSpec JSON>'`. Prints one JSON
// line (ServerReady) once it listens on 127.0.0.1, and exits when told (SIGTERM/SIGINT) or when the
// bench goes away (IPC disconnect). Its hooks (`/bench/scale/*`) report memory and the gateway's
// sockets, and (io-redis) run `WsTicketService.consume()` in process.
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import {
  Controller,
  type DynamicModule,
  Get,
  Injectable,
  Module,
  Optional,
  Post,
  type Provider,
  Query,
  type Type,
  UseGuards,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { WsAdapter } from '@nestjs/platform-ws';
import {
  ConnectedSocket,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
  type WsResponse,
} from '@nestjs/websockets';
import type { Namespace, Socket } from 'socket.io';
import type { WebSocketServer as WsServer } from 'ws';
import {
  RedisTicketStore,
  WsTicketGuard,
  WsTicketIoAdapter,
  WsTicketModule,
  WsTicketService,
  WsUser,
} from '../lib/index.js';
import { WsTicketWsAdapter } from '../lib/ws/index.js';
import { collectGarbage } from './bench.controller.js';
import { BENCH_SECRET, benchClaims, NAMESPACE } from './constants.js';
import type { ConsumeReply, ScaleServerSpec, ScaleStats } from './scale-wire.js';
import { serveChild } from './serve-child.js';

const spec = JSON.parse(process.argv[2] ?? '{}') as ScaleServerSpec;
const ticketed = spec.variant !== 'io-bare' && spec.variant !== 'ws-bare';
const raw = spec.variant === 'ws-bare' || spec.variant === 'ws-ticket';

/** What every scale gateway tells the hooks: how many sockets it holds. */
abstract class SocketCount {
  abstract count(): number;
}

/** (a) Socket.IO, no module: Nest's `IoAdapter` and a gateway with the same handler. */
@WebSocketGateway({ namespace: NAMESPACE })
class IoBareGateway implements SocketCount {
  @WebSocketServer() readonly namespace!: Namespace;

  count(): number {
    return this.namespace.sockets.size;
  }

  @SubscribeMessage('whoami')
  whoami(@ConnectedSocket() socket: Socket): unknown {
    return socket.data.user ?? null;
  }
}

/** (b) Socket.IO behind `WsTicketIoAdapter`, handlers behind `WsTicketGuard`. */
@WebSocketGateway({ namespace: NAMESPACE })
@UseGuards(WsTicketGuard)
class IoTicketGateway implements SocketCount {
  @WebSocketServer() readonly namespace!: Namespace;

  count(): number {
    return this.namespace.sockets.size;
  }

  @SubscribeMessage('whoami')
  whoami(@WsUser() user: unknown): unknown {
    return user;
  }
}

/** (c) raw WebSocket, no module: Nest's `WsAdapter`. */
@WebSocketGateway({ path: NAMESPACE })
class WsBareGateway implements SocketCount {
  @WebSocketServer() readonly server!: WsServer;

  count(): number {
    return this.server.clients.size;
  }

  @SubscribeMessage('whoami')
  whoami(): WsResponse<unknown> {
    return { event: 'whoami', data: null };
  }
}

/** (c) raw WebSocket behind `WsTicketWsAdapter`. */
@WebSocketGateway({ path: NAMESPACE })
@UseGuards(WsTicketGuard)
class WsTicketGateway implements SocketCount {
  @WebSocketServer() readonly server!: WsServer;

  count(): number {
    return this.server.clients.size;
  }

  @SubscribeMessage('whoami')
  whoami(@WsUser() user: unknown): WsResponse<unknown> {
    return { event: 'whoami', data: user };
  }
}

/** Counts of `process.getActiveResourcesInfo()` by kind. */
function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

/** Files the process has open, or undefined where /proc is not there. */
function openFiles(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return undefined;
  }
}

/** Writes a heap snapshot (investigation only: `POST /bench/scale/snapshot?name=`). */
function snapshot(name: string): string {
  return writeHeapSnapshot(join(tmpdir(), `scale-${spec.variant}-${name}.heapsnapshot`));
}

@Injectable()
class Prepared {
  tickets: string[] = [];
}

/** Bench-only hooks, called between measurements (never during one). */
@Controller('bench/scale')
class ScaleController {
  constructor(
    private readonly gateway: SocketCount,
    private readonly prepared: Prepared,
    @Optional() private readonly service?: WsTicketService,
  ) {}

  @Get('stats')
  stats(): ScaleStats {
    const { heapUsed, rss, external } = process.memoryUsage();
    const { user, system } = process.cpuUsage();
    return {
      sockets: this.gateway.count(),
      files: openFiles(),
      heapUsed,
      rss,
      external,
      resources: resources(),
      cpu: user + system,
    };
  }

  /** Full collections until the heap stops shrinking (at most 8), then the stats. */
  @Post('gc')
  async gc(): Promise<ScaleStats> {
    let last = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 8; i++) {
      await collectGarbage('major');
      const { heapUsed } = process.memoryUsage();
      if (i >= 3 && heapUsed >= last - 4096) break;
      last = heapUsed;
    }
    return this.stats();
  }

  /** Forced full GCs, then a heap snapshot in the temp directory; answers its path. */
  @Post('snapshot')
  async snapshot(@Query('name') name: string): Promise<{ path: string }> {
    await this.gc();
    return { path: snapshot(/^[\w-]{1,40}$/.test(name) ? name : 'snapshot') };
  }

  /** Issues `n` tickets in process, one per user from `user` on (untimed). */
  @Post('prepare')
  async prepare(@Query('n') n: string, @Query('user') user: string): Promise<{ tickets: number }> {
    const service = this.required();
    const total = Number(n);
    const first = Number(user);
    const tickets = new Array<string>(total);
    for (let done = 0; done < total; done += 500) {
      const batch = Math.min(500, total - done);
      await Promise.all(
        Array.from({ length: batch }, async (_, i) => {
          tickets[done + i] = (await service.issue(benchClaims(first + done + i))).uuid;
        }),
      );
    }
    this.prepared.tickets = tickets;
    return { tickets: total };
  }

  /** Consumes the prepared tickets through `WsTicketService.consume()`, `concurrency` in flight. */
  @Post('consume')
  async consume(@Query('concurrency') concurrency: string): Promise<ConsumeReply> {
    const service = this.required();
    const tickets = this.prepared.tickets;
    this.prepared.tickets = [];
    let next = 0;
    let failed = 0;
    const clock = () => performance.timeOrigin + performance.now();
    const cpu = process.cpuUsage();
    const started = clock();
    const worker = async () => {
      while (next < tickets.length) {
        const ticket = tickets[next++];
        await service.consume(ticket).catch(() => failed++);
      }
    };
    await Promise.all(Array.from({ length: Number(concurrency) }, worker));
    const ended = clock();
    const { user, system } = process.cpuUsage(cpu);
    return { consumed: tickets.length - failed, failed, started, ended, cpu: user + system };
  }

  private required(): WsTicketService {
    if (!this.service) throw new Error('no WsTicketModule in this variant');
    return this.service;
  }
}

function ticketModule(): DynamicModule {
  // The module's defaults (memory store, session-end timers, maxConnectionsPerUser 50), but for
  // the shared Redis of the io-redis instances.
  const store =
    spec.variant === 'io-redis'
      ? new RedisTicketStore({
          url: spec.redisUrl ?? (() => fail('io-redis needs redisUrl'))(),
        })
      : undefined;
  return WsTicketModule.forRoot({ jwt: { secret: BENCH_SECRET }, store });
}

function fail(message: string): never {
  throw new Error(message);
}

const GATEWAYS: Record<ScaleServerSpec['variant'], Type<SocketCount>> = {
  'io-bare': IoBareGateway,
  'io-ticket': IoTicketGateway,
  'ws-bare': WsBareGateway,
  'ws-ticket': WsTicketGateway,
  'io-redis': IoTicketGateway,
};

const gateway = GATEWAYS[spec.variant];
const providers: Provider[] = [gateway, { provide: SocketCount, useExisting: gateway }, Prepared];

@Module({ imports: ticketed ? [ticketModule()] : [], controllers: [ScaleController], providers })
class ScaleAppModule {}

const app = await NestFactory.create(ScaleAppModule, { logger: ['error', 'warn'] });
app.useWebSocketAdapter(
  raw
    ? ticketed
      ? new WsTicketWsAdapter(app)
      : new WsAdapter(app)
    : ticketed
      ? new WsTicketIoAdapter(app)
      : new IoAdapter(app),
);
await serveChild(app);
