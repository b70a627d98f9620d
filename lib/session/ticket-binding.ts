import type { Logger } from '@nestjs/common';
import { type HeaderBag, header } from '../internal/http.js';
import { REMOVED_OPTIONS } from '../internal/option-keys.js';
import { flag, optionObject } from '../internal/options.js';
import { sha256 } from '../stores/bounded-ticket-store.js';
import type { WsTicketBindOptions } from '../ws-ticket.options.js';
import { type ClientAddressReader, clientAddressReader } from './client-address.js';
import type { TicketRecord } from './ticket-record.js';

/** The request facts a binding reads: an HTTP request at issuance, a handshake at consumption. */
export interface BindingSource {
  headers?: HeaderBag | undefined;
  /** The TCP peer address of the request (never a framework's forwarded-address guess). */
  address?: string | undefined;
}

/** Ties a ticket to the client that requested it (`bind`): hashes at issuance, compares at use. */
export class TicketBinding {
  private readonly addressOf: ClientAddressReader;

  constructor(
    private readonly options: WsTicketBindOptions,
    logger?: Logger,
  ) {
    optionObject(options, 'bind', '`{ ip: true, trustedProxies: 1 }`');
    flag(options.ip, 'bind.ip');
    flag(options.userAgent, 'bind.userAgent');
    if ('trustProxy' in options) throw new Error(REMOVED_OPTIONS['bind.trustProxy']);
    this.addressOf = clientAddressReader(options.trustedProxies);
    if (options.trustedProxies !== undefined && options.ip !== true) {
      logger?.warn(
        '`bind.trustedProxies` is set without `bind.ip: true`: no ticket is bound to an address. Set `bind.ip: true`, or drop `trustedProxies`.',
      );
    }
  }

  /** True when `bind.ip` compares TCP peers: a forwarded address the framework reports is unused. */
  get forwardedIgnored(): boolean {
    return this.options.ip === true && this.options.trustedProxies === undefined;
  }

  /** The hashes a new ticket's record carries. */
  stamp(source: BindingSource): Pick<TicketRecord, 'ip' | 'ua'> {
    const stamp: Pick<TicketRecord, 'ip' | 'ua'> = {};
    if (this.options.ip) stamp.ip = this.ipHash(source);
    if (this.options.userAgent) stamp.ua = this.uaHash(source);
    return stamp;
  }

  /** Whether a handshake matches the record's bindings. */
  matches(record: TicketRecord, source: BindingSource): boolean {
    return (
      (record.ip === undefined || record.ip === this.ipHash(source)) &&
      (record.ua === undefined || record.ua === this.uaHash(source))
    );
  }

  private ipHash(source: BindingSource): string {
    return sha256(this.addressOf(source.headers, source.address) ?? '');
  }

  private uaHash(source: BindingSource): string {
    return sha256(header(source.headers, 'user-agent') ?? '');
  }
}
