/** Why a bearer token was refused at the ticket endpoint. */
export type BearerRefusal = 'bearer_missing' | 'bearer_invalid' | 'user_rejected';

/** A refused bearer token. The controller turns it into a 401 with `WWW-Authenticate`. */
export class WsTicketBearerError extends Error {
  override readonly name = 'WsTicketBearerError';
  constructor(
    readonly code: BearerRefusal,
    readonly description: string,
  ) {
    super(code);
  }
}
