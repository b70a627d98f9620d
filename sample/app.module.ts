import { type DynamicModule, Module, type Type } from '@nestjs/common';
import { JwtModule, JwtService } from '@nestjs/jwt';
import { WsTicketModule } from '../lib/index.js';
import { AuthController } from './auth/auth.controller.js';
import { ChatGateway } from './chat/chat.gateway.js';
import type { SampleConfig } from './config.js';
import { NotificationsGateway } from './notifications/notifications.gateway.js';
import { UsersModule } from './users/users.module.js';
import { UsersService } from './users/users.service.js';

@Module({})
export class AppModule {
  /** Socket.IO gateways of the sample (`npm run sample`). */
  static readonly socketIoGateways: Type[] = [ChatGateway, NotificationsGateway];

  static register(
    config: SampleConfig,
    gateways: Type[] = AppModule.socketIoGateways,
  ): DynamicModule {
    const jwt = JwtModule.register({
      secret: config.jwtSecret,
      signOptions: { algorithm: 'HS256', expiresIn: config.jwtTtl },
      verifyOptions: { algorithms: ['HS256'] },
    });
    return {
      module: AppModule,
      imports: [
        UsersModule,
        jwt,
        WsTicketModule.forRootAsync({
          imports: [UsersModule, jwt],
          inject: [UsersService, JwtService],
          useFactory: (users: UsersService, jwtService: JwtService) => ({
            // Reuse the app's JwtService: the ticket endpoint accepts exactly the tokens login signs.
            jwt: { service: jwtService, algorithms: ['HS256'] },
            resolveUser: (claims) => users.findActive(claims.sub),
            ttl: config.wsTicketTtl,
          }),
        }),
      ],
      controllers: [AuthController],
      providers: [...gateways],
    };
  }
}
