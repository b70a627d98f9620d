import type { WsTicketClaims } from '../ws-ticket.options.js';

/** What the store holds under a ticket's key (JSON). */
export interface TicketRecord {
  /** Identity handed back to `resolveUser`. */
  claims: WsTicketClaims;
  /** Expiry, epoch milliseconds (stores may expire lazily; this is checked too). */
  expiresAt: number;
  /** The user's revocation generation at issuance (absent in records of older versions: 0). */
  gen?: number;
  /** SHA-256 of the requesting IP, when bound. */
  ip?: string;
  /** SHA-256 of the requesting User-Agent, when bound. */
  ua?: string;
}

/** Reads a stored record; `undefined` for anything that is not one. */
export function parseRecord(raw: string): TicketRecord | undefined {
  try {
    const record = JSON.parse(raw) as Partial<TicketRecord>;
    if (
      typeof record?.expiresAt !== 'number' ||
      typeof record.claims !== 'object' ||
      record.claims === null
    ) {
      return undefined;
    }
    return record as TicketRecord;
  } catch {
    return undefined;
  }
}
