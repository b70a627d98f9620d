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
import { WsTicketBearerError } from './bearer/bearer.errors.js';
import { WsTicketError } from './ws-ticket.errors.js';
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
   * RFC 6750 `WWW-Authenticate` header, 429 over the issuance limit, and 503 when the store is down.
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
            'but no `jwt` option is set. Set `jwt.secret`, `jwt.publicKey` or `jwt.service`, or ' +
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
      http.setHeader(response, 'Cache-Control', 'no-store');
      http.setHeader(response, 'Pragma', 'no-cache');
      http.setHeader(response, 'X-Content-Type-Options', 'nosniff');
      try {
        return await this.tickets.issueForBearer(request.headers.authorization, request);
      } catch (error) {
        if (error instanceof WsTicketBearerError) {
          this.tickets.logRefusal(error.code, 'Ticket request refused');
          http.setHeader(response, 'WWW-Authenticate', wwwAuthenticate(error));
          throw new HttpException(
            {
              statusCode: 401,
              error: 'Unauthorized',
              code: error.code,
              message: error.description,
            },
            HttpStatus.UNAUTHORIZED,
          );
        }
        if (error instanceof WsTicketError && error.code === 'rate_limited') {
          http.setHeader(response, 'Retry-After', String(error.retryAfter ?? 60));
          throw new HttpException(
            {
              statusCode: 429,
              error: 'Too Many Requests',
              code: error.code,
              message: error.description,
            },
            HttpStatus.TOO_MANY_REQUESTS,
          );
        }
        if (error instanceof WsTicketError && error.code !== 'store_unavailable') {
          // Another code an app's resolveUser threw on purpose (user_revoked…): a refusal.
          this.tickets.logRefusal(error.code, 'Ticket request refused');
          http.setHeader(
            response,
            'WWW-Authenticate',
            'Bearer realm="ws-ticket", error="invalid_token"',
          );
          throw new HttpException(
            {
              statusCode: 401,
              error: 'Unauthorized',
              code: error.code,
              message: error.description,
            },
            HttpStatus.UNAUTHORIZED,
          );
        }
        if (error instanceof WsTicketError) {
          http.setHeader(response, 'Retry-After', '1');
          throw new HttpException(
            {
              statusCode: 503,
              error: 'Service Unavailable',
              code: error.code,
              message: error.description,
            },
            HttpStatus.SERVICE_UNAVAILABLE,
          );
        }
        throw error;
      }
    }
  }
  if (decorators.length > 0) applyDecorators(...decorators)(WsTicketController);
  return WsTicketController;
}

function wwwAuthenticate(error: WsTicketBearerError): string {
  // RFC 6750 §3.1: no error attribute when the request carried no credentials at all.
  if (error.code === 'bearer_missing') return 'Bearer realm="ws-ticket"';
  return `Bearer realm="ws-ticket", error="invalid_token", error_description="${error.description}"`;
}
