import { type DynamicModule, Module, type Type } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { JwtModule, JwtService } from '@nestjs/jwt';
import { RedisTicketStore, WsTicketModule } from '../lib/index.js';
import { AccountController } from './auth/account.controller.js';
import { AuthController } from './auth/auth.controller.js';
import { BearerGuard } from './auth/bearer.guard.js';
import { ticketTokenSources, ticketUser } from './auth/ticket-tokens.js';
import { ChatGateway } from './chat/chat.gateway.js';
import { SAMPLE_ISSUER, type SampleConfig } from './config.js';
import { RequestErrorsFilter } from './http/request-errors.filter.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { NotificationsGateway } from './notifications/notifications.gateway.js';
import { OrderShares } from './orders/order-shares.js';
import { OrdersModule } from './orders/orders.module.js';
import { RedisOrderShares } from './redis/redis-order-shares.js';
import { RedisUserState } from './redis/redis-user-state.js';
import { UserState } from './users/user-state.js';
import { UsersModule } from './users/users.module.js';
import { UsersService } from './users/users.service.js';
import { WebModule } from './web/web.module.js';

@Module({})
export class AppModule {
  /** Socket.IO gateways of the sample (`npm run sample`). */
  static readonly socketIoGateways: Type[] = [ChatGateway, NotificationsGateway];

  static register(
    config: SampleConfig,
    gateways: Type[] = AppModule.socketIoGateways,
  ): DynamicModule {
    const jwt = JwtModule.register({
      global: true,
      secret: config.jwtSecret,
      // The issuer tells the sample's own tokens from an identity provider's (JWT_JWKS_URI).
      signOptions: { algorithm: 'HS256', expiresIn: config.jwtTtl, issuer: SAMPLE_ISSUER },
      verifyOptions: { algorithms: ['HS256'] },
    });
    const { redisUrl, redisClusterNodes } = config;
    const redis = redisClusterNodes
      ? { cluster: redisClusterNodes }
      : redisUrl
        ? { url: redisUrl }
        : undefined;
    return {
      module: AppModule,
      imports: [
        WebModule,
        // GET /metrics (Prometheus), outside the `api` prefix like the page.
        MetricsModule,
        // With REDIS_URL (or REDIS_CLUSTER_NODES), the active flag and session version live in
        // Redis: every process sees a deactivation or a logout-all made on another.
        UsersModule.register(
          redis ? { provide: UserState, useFactory: () => new RedisUserState(redis) } : undefined,
        ),
        // Orders 1 (alice's) and 2 (bob's), their shares (in Redis too with REDIS_URL), the share
        // routes and the rule of their rooms, `order:{id}`.
        OrdersModule.register(
          redis
            ? { provide: OrderShares, useFactory: () => new RedisOrderShares(redis) }
            : undefined,
        ),
        jwt,
        WsTicketModule.forRootAsync({
          inject: [UsersService, JwtService],
          useFactory: (users: UsersService, jwtService: JwtService) => ({
            // The tokens login signs (the app's JwtService), and with JWT_JWKS_URI an identity
            // provider's.
            jwt: ticketTokenSources(config, jwtService),
            // One id space on purpose: a provider's `sub` is a sample user's id (ids of two
            // issuers that could collide would be prefixed here, e.g. with `iss`).
            getUserId: (claims) => claims.sub,
            // Unknown or deactivated users, and the sample's tokens of an ended session (stale
            // `sv`), get no ticket and no socket.
            resolveUser: ticketUser(config, users),
            // With REDIS_URL (REDIS_CLUSTER_NODES), tickets live in Redis (a Redis Cluster):
            // issued by one process, accepted once by any. Raw WebSocket kicks cross processes
            // over the store's channel.
            store: redis ? new RedisTicketStore(redis) : undefined,
            ttl: config.wsTicketTtl,
            // Unset: the module's default (60 s). The chat page answers `ws-ticket:expiring` with
            // a token it refreshed at POST /api/auth/refresh, so a socket outlives its first JWT.
            refreshWindow: config.wsTicketRefreshWindow,
            // Unset: 50 connections per user (a Socket.IO connection counts once, whatever
            // namespaces it opens), counted in Redis across processes with REDIS_URL.
            maxConnectionsPerUser: config.wsTicketMaxConnectionsPerUser,
            onConnectionLimit: config.wsTicketOnConnectionLimit,
            connectionLease: config.wsTicketConnectionLease,
            allowedOrigins: config.allowedOrigins,
            // Every signed-in user may join `lobby`; `order:{id}` has its rule in OrderRoomRules.
            // Any other room matches no rule: refused (`room_forbidden`).
            rooms: { lobby: true },
          }),
        }),
      ],
      controllers: [AuthController, AccountController],
      providers: [
        BearerGuard,
        // Requests the app cannot read get fixed answers, never their own bytes back.
        { provide: APP_FILTER, useClass: RequestErrorsFilter },
        ...gateways,
      ],
    };
  }
}
