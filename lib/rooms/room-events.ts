/** Event a client emits, `{ room }` with an ack, to join a room; the ack is a `WsTicketRoomAck`. */
export const WS_TICKET_JOIN_EVENT = 'ws-ticket:join';

/** Event a client emits, `{ room }` with an ack, to leave a room it joined; acked likewise. */
export const WS_TICKET_LEAVE_EVENT = 'ws-ticket:leave';

/** Event the server emits, with a `WsTicketRoomLeft`, when it takes a socket out of a room. */
export const WS_TICKET_LEFT_EVENT = 'ws-ticket:left';
