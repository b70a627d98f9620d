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
import { type BearerRefusal, WsTicketBearerError } from './bearer/bearer.errors.js';
import { WsTicketError, type WsTicketErrorCode } from './ws-ticket.errors.js';
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
        const refusal =
          error instanceof WsTicketBearerError || error instanceof WsTicketError
            ? httpAnswer(error)
            : undefined;
        if (!refusal) throw error;
        if (refusal.status === HttpStatus.UNAUTHORIZED) {
          this.tickets.logRefusal(refusal.code, 'Ticket request refused');
        }
        for (const [name, value] of Object.entries(refusal.headers)) {
          http.setHeader(response, name, value);
        }
        throw new HttpException(
          {
            statusCode: refusal.status,
            error: refusal.error,
            code: refusal.code,
            message: refusal.description,
          },
          refusal.status,
        );
      }
    }
  }
  if (decorators.length > 0) applyDecorators(...decorators)(WsTicketController);
  return WsTicketController;
}

/** How the endpoint answers a coded error: status, reason phrase and headers. */
function httpAnswer(error: WsTicketBearerError | WsTicketError): {
  status: HttpStatus;
  error: string;
  code: WsTicketErrorCode | BearerRefusal;
  description: string;
  headers: Record<string, string>;
} {
  const { code, description } = error;
  if (error instanceof WsTicketBearerError) {
    const headers = { 'WWW-Authenticate': wwwAuthenticate(error) };
    return { status: HttpStatus.UNAUTHORIZED, error: 'Unauthorized', code, description, headers };
  }
  if (code === 'rate_limited') {
    const headers = { 'Retry-After': String(error.retryAfter ?? 60) };
    return {
      status: HttpStatus.TOO_MANY_REQUESTS,
      error: 'Too Many Requests',
      code,
      description,
      headers,
    };
  }
  if (code === 'store_unavailable') {
    const headers = { 'Retry-After': '1' };
    return {
      status: HttpStatus.SERVICE_UNAVAILABLE,
      error: 'Service Unavailable',
      code,
      description,
      headers,
    };
  }
  // Another code an app's resolveUser threw on purpose (user_revoked…): a refusal.
  const headers = { 'WWW-Authenticate': 'Bearer realm="ws-ticket", error="invalid_token"' };
  return { status: HttpStatus.UNAUTHORIZED, error: 'Unauthorized', code, description, headers };
}

function wwwAuthenticate(error: WsTicketBearerError): string {
  // RFC 6750 §3.1: no error attribute when the request carried no credentials at all.
  if (error.code === 'bearer_missing') return 'Bearer realm="ws-ticket"';
  return `Bearer realm="ws-ticket", error="invalid_token", error_description="${error.description}"`;
}
