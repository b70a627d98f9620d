import { PerformanceObserver, performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import {
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  Injectable,
  Post,
  Query,
  UnauthorizedException,
  UseGuards,
} from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { MemoryTicketStore, TicketStore, WsTicketService } from '../lib/index.js';
import { BENCH_USERS, benchClaims, type ServerStats } from './constants.js';
import { TicketChatGateway } from './gateways.js';

/**
 * The usual Nest bearer guard (the shape of the Nest docs' `AuthGuard`): `verifyAsync` the token,
 * keep the claims on the request.
 */
@Injectable()
export class BearerJwtGuard implements CanActivate {
  constructor(private readonly jwt: JwtService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context
      .switchToHttp()
      .getRequest<{ headers: { authorization?: string }; user?: unknown }>();
    const [type, token] = request.headers.authorization?.split(' ') ?? [];
    if (type !== 'Bearer' || !token) throw new UnauthorizedException();
    try {
      request.user = await this.jwt.verifyAsync(token, { algorithms: ['HS256'] });
    } catch {
      throw new UnauthorizedException();
    }
    return true;
  }
}

/** The baseline of the issuance bench: a JWT-guarded route that returns a constant. */
@Controller('bench/bare')
export class BareRouteController {
  @Post()
  @UseGuards(BearerJwtGuard)
  issue(): { uuid: string; expiresIn: number } {
    return { uuid: '00000000-0000-4000-8000-000000000000', expiresIn: 30 };
  }
}

type GcFunction = (options?: { type: 'minor' | 'major' }) => void;

/**
 * Runs one garbage collection (the process runs with --expose-gc). `minor` empties the young
 * generation only (one scavenge: it promotes nothing that was not already due): a major collection
 * also ages compiled code, and forcing many of them would have V8 flush and recompile the very code
 * being measured.
 */
export async function collectGarbage(type: 'minor' | 'major'): Promise<void> {
  const gc = (globalThis as { gc?: GcFunction }).gc;
  if (!gc) throw new Error('start the bench server with --expose-gc');
  // Node 20's V8 runs a scavenge for any options object: a full collection is the bare call.
  if (type === 'minor') gc({ type });
  else gc();
  await new Promise((resolve) => setImmediate(resolve));
}

let gcMillis = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMillis += entry.duration;
}).observe({ entryTypes: ['gc'] });

/** Bench-only hooks the bench calls between timed phases (never during one). */
@Controller('bench')
export class BenchAdminController {
  @Get('stats')
  stats(): ServerStats {
    const { user, system } = process.cpuUsage();
    return { cpu: user + system, heapUsed: process.memoryUsage().heapUsed, gc: gcMillis };
  }

  /**
   * Empties the young generation before a timed run, so that no variant starts one with garbage
   * left by what preceded it (the ticket variants fetch their tickets right before).
   */
  @Post('gc')
  async gc(): Promise<ServerStats> {
    await collectGarbage('minor');
    return this.stats();
  }
}

/** Samples the RSS every millisecond the event loop allows, keeping the highest. */
class RssPeak {
  private timer: NodeJS.Timeout | undefined;
  private peak = 0;

  start(): void {
    this.stop();
    this.peak = process.memoryUsage.rss();
    this.timer = setInterval(() => {
      this.peak = Math.max(this.peak, process.memoryUsage.rss());
    }, 1);
  }

  /** Stops sampling; the highest RSS seen since `start`, in bytes. */
  stop(): number {
    clearInterval(this.timer);
    this.timer = undefined;
    return Math.max(this.peak, process.memoryUsage.rss());
  }
}

/** Heap bench hooks (`heap` variant, run with --expose-gc). */
@Controller('bench/heap')
export class HeapController {
  private readonly rssPeak = new RssPeak();

  constructor(
    private readonly tickets: WsTicketService,
    private readonly store: TicketStore,
  ) {}

  /**
   * Issues `n` tickets through the service, as the endpoint does after verifying the bearer,
   * spread over {@link BENCH_USERS} users (each stays under the issuance limit).
   */
  @Post('issue')
  async issue(@Query('n') n: string): Promise<ServerStats> {
    const total = Number(n);
    for (let done = 0; done < total; done += 1000) {
      const batch = Math.min(1000, total - done);
      await Promise.all(
        Array.from({ length: batch }, (_, i) =>
          this.tickets.issue(benchClaims((done + i) % BENCH_USERS)),
        ),
      );
    }
    return this.snapshot();
  }

  /** Forces full collections, then reports the heap. */
  @Post('gc')
  async gc(): Promise<ServerStats> {
    for (let i = 0; i < 4; i++) await collectGarbage('major');
    return this.snapshot();
  }

  /** `?start=1` starts sampling the RSS; without it, stops and reports the highest sample. */
  @Post('peak')
  peak(@Query('start') start?: string): ServerStats {
    if (start) {
      this.rssPeak.start();
      return this.snapshot();
    }
    return { ...this.snapshot(), peakRss: this.rssPeak.stop() };
  }

  private snapshot(): ServerStats {
    const { user, system } = process.cpuUsage();
    const tickets = this.store instanceof MemoryTicketStore ? this.store.size : undefined;
    const { heapUsed, rss } = process.memoryUsage();
    return { cpu: user + system, heapUsed, rss, tickets };
  }
}

/** What `POST /bench/cap/drain` answers. */
export interface DrainReply {
  /** How long the server waited for its last connections to close, milliseconds. */
  waited: number;
}

/** Connection cap bench hooks (Socket.IO ticket variants). */
@Controller('bench/cap')
export class CapController {
  constructor(
    private readonly gateway: TicketChatGateway,
    private readonly tickets: WsTicketService,
    private readonly store: TicketStore,
  ) {}

  /**
   * Answers once every Socket.IO connection has closed and the store has answered one call made
   * after that: the connection cap gives a slot back on `close` with one store call, and the bench
   * counts that in a handshake's time. The same wait with the cap off, so both pay it alike.
   */
  @Post('drain')
  async drain(): Promise<DrainReply> {
    const engine = this.gateway.namespace.server.engine;
    const started = performance.now();
    while (engine.clientsCount > 0) {
      if (performance.now() - started > 10_000) {
        throw new Error(`${engine.clientsCount} connections still open after 10 s`);
      }
      await delay(1);
    }
    // Store calls are answered in order (one Redis connection): the releases come back first.
    await this.store.countConnections('bench-drain');
    return { waited: performance.now() - started };
  }

  /** The user's slots as the cap counts them; `null` with the cap off. */
  @Get('connections')
  async connections(@Query('user') user: string): Promise<{ count: number | null }> {
    if (this.tickets.maxConnectionsPerUser === false) return { count: null };
    return { count: await this.tickets.connectionCount(user) };
  }
}
