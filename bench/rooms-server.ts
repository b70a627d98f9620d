// A rooms section server child: `node rooms-server.js '<RoomsServerSpec JSON>'`. Prints one JSON
// line (ServerReady) once it listens on 127.0.0.1, and exits when told (SIGTERM/SIGINT) or when the
// bench goes away (IPC disconnect). Its hooks (`/bench/rooms/*`) report the gateway's sockets, a
// room's members and the heap (snapshots), and send the fan-out messages.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import {
  Controller,
  Get,
  Injectable,
  Module,
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
  MessageBody,
  type OnGatewayDisconnect,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
  type WsResponse,
} from '@nestjs/websockets';
import type { Namespace, Socket } from 'socket.io';
import type { WebSocket, WebSocketServer as WsServer } from 'ws';
import {
  WsTicketGuard,
  WsTicketIoAdapter,
  WsTicketModule,
  WsTicketRoom,
  WsTicketRooms,
} from '../lib/index.js';
import { WsTicketWsAdapter } from '../lib/ws/index.js';
import { BenchAdminController } from './bench.controller.js';
import { BENCH_SECRET, NAMESPACE } from './constants.js';
import {
  BARE_JOIN_EVENT,
  type EmitReply,
  type EmitVia,
  FANOUT_ROOM,
  ORDERS,
  type RoomsServerSpec,
  type RoomsSnapshot,
  type RoomsStats,
  TICK_EVENT,
  type Tick,
} from './rooms-wire.js';
import { serveChild } from './serve-child.js';

const spec = JSON.parse(process.argv[2] ?? '{}') as RoomsServerSpec;
const ticketed = spec.variant === 'io-ticket' || spec.variant === 'ws-ticket';
const raw = spec.variant === 'ws-bare' || spec.variant === 'ws-ticket';

/** What every rooms gateway tells the hooks, and how it sends a fan-out message. */
abstract class RoomsGateway {
  abstract count(): number;
  abstract members(room: string): number;
  abstract emit(via: EmitVia, room: string, tick: Tick): void | Promise<void>;
}

function unsupported(via: EmitVia): never {
  throw new Error(`${spec.variant} does not send with ${via}`);
}

/** An app's orders, held in memory: who owns each, and whether everyone may see it. */
@Injectable()
class OrdersDirectory {
  private readonly orders = new Map<string, { owner: string; open: boolean }>();

  constructor() {
    for (let i = 0; i < ORDERS; i++) {
      this.orders.set(String(i), { owner: `bench-user-${i}`, open: i < ORDERS - 1 });
    }
  }

  visible(id: string, userId: string | undefined): boolean {
    const order = this.orders.get(id);
    return order !== undefined && (order.open || order.owner === userId);
  }
}

/** The rule of `order:{id}` rooms, as an app declares it: a provider using an injected service. */
@Injectable()
class OrderRooms {
  constructor(private readonly orders: OrdersDirectory) {}

  @WsTicketRoom('order:{id}')
  order(user: { sub?: string }, { id }: { id: string }): boolean {
    return this.orders.visible(id, user.sub);
  }
}

/**
 * Socket.IO's options on both servers: no ping during the section (every 25 s by default). A ping
 * cycle changes what each socket holds (its timers), which moved the heap readings; and a server
 * that writes a heap snapshot for seconds on a busy machine timed its sockets out when it woke
 * up (its timers run before it reads the pongs waiting for it).
 */
const IO_OPTIONS = { namespace: NAMESPACE, pingInterval: 600_000, pingTimeout: 600_000 };

/** (a) Socket.IO, no module: a handler that joins the room it is told and acks. */
@WebSocketGateway(IO_OPTIONS)
class IoBareGateway implements RoomsGateway {
  @WebSocketServer() readonly namespace!: Namespace;

  count(): number {
    return this.namespace.sockets.size;
  }

  members(room: string): number {
    return this.namespace.adapter.rooms.get(room)?.size ?? 0;
  }

  emit(via: EmitVia, room: string, tick: Tick): void {
    if (via !== 'server') unsupported(via);
    this.namespace.to(room).emit(TICK_EVENT, tick);
  }

  @SubscribeMessage(BARE_JOIN_EVENT)
  join(
    @ConnectedSocket() socket: Socket,
    @MessageBody() body: { room: string },
  ): { ok: true; room: string } {
    void socket.join(body.room);
    return { ok: true, room: body.room };
  }
}

/** (b) Socket.IO behind `WsTicketIoAdapter`: joins are `ws-ticket:join`, decided by the rules. */
@WebSocketGateway(IO_OPTIONS)
@UseGuards(WsTicketGuard)
class IoTicketGateway implements RoomsGateway {
  @WebSocketServer() readonly namespace!: Namespace;

  constructor(private readonly rooms: WsTicketRooms) {}

  count(): number {
    return this.namespace.sockets.size;
  }

  members(room: string): number {
    return this.namespace.adapter.rooms.get(room)?.size ?? 0;
  }

  emit(via: EmitVia, room: string, tick: Tick): void | Promise<void> {
    if (via === 'server') this.namespace.to(room).emit(TICK_EVENT, tick);
    else if (via === 'module') return this.rooms.to(room).emit(TICK_EVENT, tick);
    else unsupported(via);
  }
}

/** (c) raw WebSocket, no module: a Map of Sets for a registry, a handler that adds and acks. */
@WebSocketGateway({ path: NAMESPACE })
class WsBareGateway implements RoomsGateway, OnGatewayDisconnect {
  @WebSocketServer() readonly server!: WsServer;
  private readonly rooms = new Map<string, Set<WebSocket>>();
  private readonly joined = new WeakMap<WebSocket, Set<string>>();

  count(): number {
    return this.server.clients.size;
  }

  members(room: string): number {
    return this.rooms.get(room)?.size ?? 0;
  }

  emit(via: EmitVia, room: string, tick: Tick): void {
    if (via !== 'loop') unsupported(via);
    const members = this.rooms.get(room);
    if (!members) return;
    const frame = JSON.stringify({ event: TICK_EVENT, data: tick });
    for (const client of members) if (client.readyState === client.OPEN) client.send(frame);
  }

  @SubscribeMessage(BARE_JOIN_EVENT)
  join(
    @ConnectedSocket() client: WebSocket,
    @MessageBody() body: { room: string },
  ): WsResponse<{ ok: true; room: string }> {
    const { room } = body;
    let members = this.rooms.get(room);
    if (!members) {
      members = new Set();
      this.rooms.set(room, members);
    }
    members.add(client);
    let joined = this.joined.get(client);
    if (!joined) {
      joined = new Set();
      this.joined.set(client, joined);
    }
    joined.add(room);
    return { event: BARE_JOIN_EVENT, data: { ok: true, room } };
  }

  handleDisconnect(client: WebSocket): void {
    for (const room of this.joined.get(client) ?? []) {
      const members = this.rooms.get(room);
      members?.delete(client);
      if (members?.size === 0) this.rooms.delete(room);
    }
    this.joined.delete(client);
  }
}

/** (d) raw WebSocket behind `WsTicketWsAdapter`: `ws-ticket:join` frames, the module's registry. */
@WebSocketGateway({ path: NAMESPACE })
@UseGuards(WsTicketGuard)
class WsTicketGateway implements RoomsGateway {
  @WebSocketServer() readonly server!: WsServer;

  constructor(private readonly rooms: WsTicketRooms) {}

  count(): number {
    return this.server.clients.size;
  }

  members(room: string): number {
    let members = 0;
    for (const client of this.server.clients) if (this.rooms.has(client, room)) members++;
    return members;
  }

  emit(via: EmitVia, room: string, tick: Tick): void | Promise<void> {
    if (via === 'module') return this.rooms.to(room).emit(TICK_EVENT, tick);
    if (via !== 'loop') unsupported(via);
    // The same sockets by hand: the fan-out rows hold no other socket on this server.
    const frame = JSON.stringify({ event: TICK_EVENT, data: tick });
    for (const client of this.server.clients) {
      if (client.readyState === client.OPEN) client.send(frame);
    }
  }
}

const clock = () => performance.timeOrigin + performance.now();

/** Bench-only hooks, called between measurements, and the fan-out trigger. */
@Controller('bench/rooms')
class RoomsController {
  /** The fan-out message's text: the size of a short chat line. */
  private readonly text = 'x'.repeat(64);
  private snapshots = 0;

  constructor(private readonly gateway: RoomsGateway) {}

  @Get('stats')
  stats(@Query('room') room?: string): RoomsStats {
    const { user, system } = process.cpuUsage();
    return {
      sockets: this.gateway.count(),
      members: this.gateway.members(room ?? FANOUT_ROOM),
      heapUsed: process.memoryUsage().heapUsed,
      cpu: user + system,
    };
  }

  /**
   * Writes a heap snapshot in the temp directory (for the bench to count and delete), then the
   * stats: V8 collects all it can before a snapshot (more than `gc()` does: see heap-census.ts).
   */
  @Post('snapshot')
  snapshot(@Query('room') room?: string): RoomsSnapshot {
    const name = `rooms-${spec.variant}-${process.pid}-${++this.snapshots}.heapsnapshot`;
    const path = writeHeapSnapshot(join(tmpdir(), name));
    return { ...this.stats(room), path };
  }

  /** Sends fan-out message `seq` to `room` the way `via` says; answers the call's time and CPU. */
  @Post('emit')
  async emit(
    @Query('via') via: EmitVia,
    @Query('seq') seq: string,
    @Query('room') room = FANOUT_ROOM,
  ): Promise<EmitReply> {
    const cpu = process.cpuUsage();
    const started = performance.now();
    const tick: Tick = { seq: Number(seq), sent: clock(), text: this.text };
    await this.gateway.emit(via, room, tick);
    const callMs = performance.now() - started;
    const { user, system } = process.cpuUsage(cpu);
    return { callMs, cpu: user + system };
  }
}

const GATEWAYS: Record<RoomsServerSpec['variant'], Type<RoomsGateway>> = {
  'io-bare': IoBareGateway,
  'io-ticket': IoTicketGateway,
  'ws-bare': WsBareGateway,
  'ws-ticket': WsTicketGateway,
};

const gateway = GATEWAYS[spec.variant];
const providers: Provider[] = [gateway, { provide: RoomsGateway, useExisting: gateway }];
if (ticketed) providers.push(OrdersDirectory, OrderRooms);

@Module({
  // The module's defaults (memory store, maxRoomsPerSocket 100, roomJoinLimit 50 per 10 s), the
  // fan-out room admitted by the `rooms` option, `order:{id}` by OrderRooms.
  imports: ticketed
    ? [WsTicketModule.forRoot({ jwt: { secret: BENCH_SECRET }, rooms: { [FANOUT_ROOM]: true } })]
    : [],
  controllers: [RoomsController, BenchAdminController],
  providers,
})
class RoomsAppModule {}

const app = await NestFactory.create(RoomsAppModule, { logger: ['error', 'warn'] });
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
