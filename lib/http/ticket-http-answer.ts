import { HttpStatus } from '@nestjs/common';
import { type BearerRefusal, WsTicketBearerError } from '../bearer/bearer.errors.js';
import { WsTicketError, type WsTicketErrorCode } from '../ws-ticket.errors.js';

/** Headers on every answer of a ticket route, tickets and refusals alike. */
export const TICKET_HTTP_HEADERS: Readonly<Record<string, string>> = {
  'Cache-Control': 'no-store',
  Pragma: 'no-cache',
  'X-Content-Type-Options': 'nosniff',
};

/**
 * How a ticket route answers a coded error: the status, the JSON body and the headers the refusal
 * adds to {@link TICKET_HTTP_HEADERS}. One mapping, for the built-in endpoint and for
 * `WsTicketExceptionFilter` on the app's own routes.
 */
export interface TicketHttpAnswer {
  status: HttpStatus;
  body: {
    statusCode: HttpStatus;
    /** The reason phrase, as Nest's own HTTP errors carry it. */
    error: string;
    code: WsTicketErrorCode | BearerRefusal;
    /** The code's description: a fixed text, never request data. */
    message: string;
  };
  headers: Record<string, string>;
}

/** Whether `error` is one {@link ticketHttpAnswer} maps. */
export function isTicketHttpError(error: unknown): error is WsTicketBearerError | WsTicketError {
  return error instanceof WsTicketBearerError || error instanceof WsTicketError;
}

/**
 * 401 with an RFC 6750 `WWW-Authenticate` for a refused bearer, 429 with `Retry-After` over the
 * issuance limit, 503 with `Retry-After` when the store (or the app's callback) failed or the keys of
 * a JWKS source could not be fetched, and 401
 * for another code an app's `resolveUser` threw on purpose (`user_revoked`…).
 */
export function ticketHttpAnswer(error: WsTicketBearerError | WsTicketError): TicketHttpAnswer {
  const { code, description } = error;
  const answer = (status: HttpStatus, reason: string, headers: Record<string, string>) => ({
    status,
    body: { statusCode: status, error: reason, code, message: description },
    headers,
  });
  if (error instanceof WsTicketBearerError) {
    return answer(HttpStatus.UNAUTHORIZED, 'Unauthorized', {
      'WWW-Authenticate': wwwAuthenticate(error),
    });
  }
  if (code === 'rate_limited') {
    return answer(HttpStatus.TOO_MANY_REQUESTS, 'Too Many Requests', {
      'Retry-After': String(error.retryAfter ?? 60),
    });
  }
  if (code === 'store_unavailable' || code === 'jwks_unavailable') {
    return answer(HttpStatus.SERVICE_UNAVAILABLE, 'Service Unavailable', {
      'Retry-After': String(error.retryAfter ?? 1),
    });
  }
  // Another code an app's resolveUser threw on purpose (user_revoked…): a refusal.
  return answer(HttpStatus.UNAUTHORIZED, 'Unauthorized', {
    'WWW-Authenticate': 'Bearer realm="ws-ticket", error="invalid_token"',
  });
}

function wwwAuthenticate(error: WsTicketBearerError): string {
  // RFC 6750 §3.1: no error attribute when the request carried no credentials at all.
  if (error.code === 'bearer_missing') return 'Bearer realm="ws-ticket"';
  return `Bearer realm="ws-ticket", error="invalid_token", error_description="${error.description}"`;
}
