import { type HeaderBag, header } from '../internal/http.js';
import { sha256 } from '../stores/bounded-ticket-store.js';
import type { WsTicketBindOptions } from '../ws-ticket.options.js';
import type { TicketRecord } from './ticket-record.js';

/** The request facts a binding reads: an HTTP request at issuance, a handshake at consumption. */
export interface BindingSource {
  headers?: HeaderBag;
  /** The client address as the framework sees it (issuance: `req.ip`, else the socket's). */
  address?: string;
}

/** Ties a ticket to the client that requested it (`bind`): hashes at issuance, compares at use. */
export class TicketBinding {
  constructor(private readonly options: WsTicketBindOptions) {}

  /** The hashes a new ticket's record carries. */
  stamp(source: BindingSource): Pick<TicketRecord, 'ip' | 'ua'> {
    const stamp: Pick<TicketRecord, 'ip' | 'ua'> = {};
    if (this.options.ip) stamp.ip = sha256(this.ipOf(source) ?? '');
    if (this.options.userAgent) stamp.ua = sha256(header(source.headers, 'user-agent') ?? '');
    return stamp;
  }

  /** Whether a handshake matches the record's bindings. */
  matches(record: TicketRecord, source: BindingSource): boolean {
    return (
      (record.ip === undefined || record.ip === sha256(this.ipOf(source) ?? '')) &&
      (record.ua === undefined || record.ua === sha256(header(source.headers, 'user-agent') ?? ''))
    );
  }

  private ipOf(source: BindingSource): string | undefined {
    if (this.options.trustProxy) {
      const forwarded = header(source.headers, 'x-forwarded-for')?.split(',')[0]?.trim();
      if (forwarded) return forwarded;
    }
    return source.address;
  }
}
