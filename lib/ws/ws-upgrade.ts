import type { VerifyClientCallbackAsync, VerifyClientCallbackSync } from 'ws';

/** A gateway's own `verifyClient`, either form `ws` takes. */
export type VerifyClient = VerifyClientCallbackAsync | VerifyClientCallbackSync;
type VerifyCallback = Parameters<VerifyClientCallbackAsync>[1];
type VerifyInfo = Parameters<VerifyClientCallbackAsync>[0];

/**
 * The shape of `ws`'s own error codes (`WS_ERR_UNSUPPORTED_MESSAGE_LENGTH`…): nothing else is
 * logged.
 */
export const WS_ERROR_CODE = /^WS_ERR_[A-Z0-9_]{1,48}$/;

/** Headers of an upgrade refusal's JSON body. */
export const JSON_REFUSAL_HEADERS = {
  'Content-Type': 'application/json; charset=utf-8',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
};

/** Runs a gateway's own `verifyClient` (sync or async), or passes when there is none. */
export function runOwnVerifyClient(
  own: VerifyClient | undefined,
  info: VerifyInfo,
  next: VerifyCallback,
): void {
  if (!own) next(true);
  else if (own.length === 2) (own as VerifyClientCallbackAsync)(info, next);
  else next((own as VerifyClientCallbackSync)(info), 401);
}
