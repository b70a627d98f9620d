import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  HttpStatus,
  Inject,
  Optional,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { BaseWsExceptionFilter, WsException } from '@nestjs/websockets';
import { WsTicketBearerError } from './bearer/bearer.errors.js';
import { TICKET_HTTP_HEADERS, ticketHttpAnswer } from './http/ticket-http-answer.js';
import { WsTicketError } from './ws-ticket.errors.js';
import { WsTicketService } from './ws-ticket.service.js';

/**
 * Answers the module's coded errors on the app's own routes exactly as the built-in ticket
 * endpoint does, on Express and Fastify: 401 with `WWW-Authenticate` for a refused bearer
 * (`issueForBearer`), 429 with `Retry-After` for `rate_limited`, 503 with `Retry-After` for
 * `store_unavailable`, a JSON body `{ statusCode, error, code, message }`, and
 * `Cache-Control: no-store`, `Pragma: no-cache`, `X-Content-Type-Options: nosniff`. Without it,
 * Nest answers a `WsTicketError` thrown by `WsTicketService.issue()` as a 500.
 *
 * Use it per controller or route (`@UseFilters(WsTicketExceptionFilter)`) or app-wide
 * (`{ provide: APP_FILTER, useClass: WsTicketExceptionFilter }`). In a gateway the same errors
 * become `WsException({ code, message })`, as the guard's refusals; other contexts rethrow them.
 */
@Catch(WsTicketError, WsTicketBearerError)
export class WsTicketExceptionFilter
  implements ExceptionFilter<WsTicketError | WsTicketBearerError>
{
  constructor(
    @Inject(HttpAdapterHost) protected readonly adapterHost: HttpAdapterHost,
    @Optional() @Inject(WsTicketService) protected readonly tickets?: WsTicketService,
  ) {}

  catch(error: WsTicketError | WsTicketBearerError, host: ArgumentsHost): void {
    if (host.getType() === 'ws') {
      new BaseWsExceptionFilter().catch(
        new WsException({ code: error.code, message: error.description }),
        host,
      );
      return;
    }
    if (host.getType() !== 'http') throw error;
    const answer = ticketHttpAnswer(error);
    // Refusals are logged as the endpoint logs them (rate_limited and failures by the service).
    if (answer.status === HttpStatus.UNAUTHORIZED) {
      this.tickets?.logRefusal(answer.body.code, 'Ticket request refused');
    }
    const http = this.adapterHost.httpAdapter;
    const response: unknown = host.switchToHttp().getResponse();
    for (const [name, value] of Object.entries({ ...TICKET_HTTP_HEADERS, ...answer.headers })) {
      http.setHeader(response, name, value);
    }
    http.reply(response, answer.body, answer.status);
  }
}
