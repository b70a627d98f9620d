import { createParamDecorator, type ExecutionContext } from '@nestjs/common';

/**
 * The user the handshake's ticket resolved to (`socket.data.user`), or one of its properties:
 * `@WsUser() user`, `@WsUser('id') id`.
 */
export const WsUser = createParamDecorator(
  (property: string | undefined, context: ExecutionContext) => {
    const user = context.switchToWs().getClient<{ data?: { user?: Record<string, unknown> } }>()
      .data?.user;
    return property ? user?.[property] : user;
  },
);
