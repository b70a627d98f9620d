import proxyaddr from 'proxy-addr';
import type { HeaderBag } from '../internal/http.js';
import { received } from '../internal/options.js';
import type { WsTicketTrustedProxies } from '../ws-ticket.options.js';

/** The longest hop count accepted: no real chain of proxies is longer. */
const MAX_HOPS = 16;

/**
 * The client address of a request as `bind.ip` sees it: the TCP peer when no proxy is trusted,
 * otherwise the right-most `X-Forwarded-For` entry that a trusted proxy did not write (what
 * Express' `trust proxy` computes, through the same `proxy-addr` package). Entries left of it were
 * written by the client and are never read. The same function serves the ticket request and the
 * handshake, so both sides agree whatever the HTTP framework's own proxy setting is.
 */
export type ClientAddressReader = (
  headers: HeaderBag | undefined,
  peer: string | undefined,
) => string | undefined;

/**
 * Builds the reader for `bind.trustedProxies`.
 * @throws Error at startup, naming the option, for a value that is not a hop count or address list
 */
export function clientAddressReader(
  trusted: WsTicketTrustedProxies | undefined,
): ClientAddressReader {
  if (trusted === undefined) return (_headers, peer) => normalize(peer);
  const trust = compileTrust(trusted);
  return (headers, peer) => {
    const forwarded = headers?.['x-forwarded-for'];
    const request = {
      headers: {
        'x-forwarded-for': Array.isArray(forwarded) ? forwarded.join(',') : (forwarded ?? ''),
      },
      socket: { remoteAddress: peer },
    };
    return normalize(proxyaddr(request as never, trust));
  };
}

function compileTrust(trusted: WsTicketTrustedProxies): (address: string, hop: number) => boolean {
  if (typeof trusted === 'number') {
    if (!Number.isInteger(trusted) || trusted < 1 || trusted > MAX_HOPS) {
      throw new Error(
        `WsTicketModule: \`bind.trustedProxies\` as a hop count must be an integer from 1 to ${MAX_HOPS} (the proxies between clients and the app), or a list of their addresses; received ${received(trusted)}.`,
      );
    }
    return (_address, hop) => hop < trusted;
  }
  if (!Array.isArray(trusted) || trusted.some((entry) => typeof entry !== 'string')) {
    const hint =
      typeof trusted === 'string' && /^\d+$/.test(trusted)
        ? ': convert environment values with Number(…)'
        : typeof trusted === 'string'
          ? ": split a comma-separated environment value with .split(',')"
          : '';
    throw new Error(
      `WsTicketModule: \`bind.trustedProxies\` must be a hop count or a list of proxy addresses / CIDR ranges; received ${received(trusted)}${hint}.`,
    );
  }
  if (trusted.length === 0) {
    throw new Error(
      'WsTicketModule: `bind.trustedProxies` is an empty list: name the proxies in front of the app, or leave the option out when there are none (a missing environment variable?).',
    );
  }
  try {
    return proxyaddr.compile([...trusted]);
  } catch (error) {
    throw new Error(
      `WsTicketModule: \`bind.trustedProxies\` has an entry that is not an IP address, a CIDR range or one of loopback, linklocal, uniquelocal (${(error as Error).message}).`,
    );
  }
}

/** `::ffff:203.0.113.7` and `203.0.113.7` are one client, whichever socket family saw it. */
function normalize(address: string | undefined): string | undefined {
  return address?.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
