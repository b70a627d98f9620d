import {
  applyDecorators,
  Controller,
  HttpCode,
  HttpException,
  HttpStatus,
  Inject,
  Post,
  Req,
  Res,
  type Type,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import {
  isTicketHttpError,
  TICKET_HTTP_HEADERS,
  ticketHttpAnswer,
} from './http/ticket-http-answer.js';
import { WsTicketService } from './ws-ticket.service.js';
import type { WsTicketRequest, WsTicketResponse } from './ws-ticket.types.js';

/**
 * Builds the ticket endpoint controller for a route. A class is made per module registration so that
 * two apps in one process can mount the endpoint on different paths, and the app's
 * `controllerDecorators` decorate only its own.
 */
export function createWsTicketController(
  path: string,
  decorators: readonly ClassDecorator[] = [],
): Type<unknown> {
  /**
   * `POST <path>`: exchanges a bearer JWT for a ticket. Every answer carries
   * `Cache-Control: no-store` and `X-Content-Type-Options: nosniff`; refusals are 401 with an
   * RFC 6750 `WWW-Authenticate` header, 429 over the issuance limit, and 503 when the store is down
   * (`store_unavailable`) or a JWKS source's keys cannot be fetched (`jwks_unavailable`).
   */
  @Controller(path)
  class WsTicketController {
    constructor(
      @Inject(WsTicketService) private readonly tickets: WsTicketService,
      @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
    ) {
      // At boot, not on the first request: an endpoint that can verify no bearer is a mistake.
      if (!tickets.verifiesBearers) {
        throw new Error(
          `WsTicketModule: the built-in ticket endpoint (POST ${path}) verifies bearer tokens, ` +
            'but no `jwt` option is set. Set `jwt.secret`, `jwt.publicKey`, `jwt.service` or `jwt.jwks`, or ' +
            'pass `controller: false` beside the options and issue tickets from your own ' +
            'controller with WsTicketService.issue().',
        );
      }
    }

    @Post()
    @HttpCode(HttpStatus.CREATED)
    async issue(
      @Req() request: WsTicketRequest & { headers: Record<string, string | string[] | undefined> },
      @Res({ passthrough: true }) response: unknown,
    ): Promise<WsTicketResponse> {
      const http = this.adapterHost.httpAdapter;
      for (const [name, value] of Object.entries(TICKET_HTTP_HEADERS)) {
        http.setHeader(response, name, value);
      }
      try {
        return await this.tickets.issueForBearer(request.headers.authorization, request);
      } catch (error) {
        if (!isTicketHttpError(error)) throw error;
        const refusal = ticketHttpAnswer(error);
        if (refusal.status === HttpStatus.UNAUTHORIZED) {
          this.tickets.logRefusal(refusal.body.code, 'Ticket request refused');
        }
        for (const [name, value] of Object.entries(refusal.headers)) {
          http.setHeader(response, name, value);
        }
        throw new HttpException(refusal.body, refusal.status);
      }
    }
  }
  if (decorators.length > 0) applyDecorators(...decorators)(WsTicketController);
  return WsTicketController;
}
