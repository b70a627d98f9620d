import { Body, Controller, Module, Post, UseGuards } from '@nestjs/common';
import { JwtModule, JwtService } from '@nestjs/jwt';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { WsTicketGuard, WsTicketModule, WsUser } from 'nestjs-ws-ticket';

export interface User {
  id: string;
  name: string;
}

// string | undefined, as in any app: must compile under exactOptionalPropertyTypes.
const secret = process.env.JWT_SECRET;

/** The app's own login: signs a JWT for whoever asks (the test's user). */
@Controller('login')
export class LoginController {
  constructor(private readonly jwt: JwtService) {}

  @Post()
  async login(@Body() body: { name?: string }): Promise<{ accessToken: string }> {
    const name = body.name ?? 'anonymous';
    return { accessToken: await this.jwt.signAsync({ sub: `user-${name}`, name }) };
  }
}

@WebSocketGateway({ namespace: 'chat' })
export class ChatGateway {
  @UseGuards(WsTicketGuard)
  @SubscribeMessage('whoami')
  whoami(@WsUser() user: User): User {
    return user;
  }
}

@Module({
  imports: [
    JwtModule.register({ secret: secret ?? '', signOptions: { expiresIn: '5m' } }),
    WsTicketModule.forRoot<User>({
      jwt: { secret },
      resolveUser: (claims) => ({ id: String(claims.sub), name: String(claims.name) }),
    }),
  ],
  controllers: [LoginController],
  providers: [ChatGateway],
})
export class AppModule {}
