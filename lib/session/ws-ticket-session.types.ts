/**
 * What revocation checks compare a session with. Opaque to apps: carry it along unchanged when an
 * adapter override builds its own session from `super`'s.
 */
export interface WsTicketSessionStamp {
  /** `performance.now()` when this process started consuming the ticket. */
  readonly startedAt: number;
  /** The user's revocation generation in the store when the ticket was issued. */
  readonly generation: number;
}

/** A consumed ticket: who connected, and until when their session lasts. */
export interface WsTicketSession<TUser = unknown> {
  /** What `resolveUser` returned. */
  user: TUser;
  /** The user's id (`getUserId`, by default the `sub` claim): the key of rooms and revocation. */
  userId: string;
  /** When the bearer JWT behind the ticket expires, epoch milliseconds. */
  sessionExpiresAt: number | undefined;
  /** For revocation checks; see {@link WsTicketSessionStamp}. */
  stamp: WsTicketSessionStamp;
}
