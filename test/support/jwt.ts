import { createHmac } from 'node:crypto';

export const TEST_SECRET = 'test-secret-0123456789abcdef0123456789abcdef';

function b64url(value: object | string): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString(
    'base64url',
  );
}

/** Signs an HS256 JWT by hand, so tests can also forge odd ones. */
export function signJwt(
  claims: Record<string, unknown>,
  {
    secret = TEST_SECRET,
    alg = 'HS256',
    expiresIn = 600,
  }: { secret?: string; alg?: string; expiresIn?: number | null } = {},
): string {
  const now = Math.floor(Date.now() / 1000);
  const payload = { iat: now, ...(expiresIn === null ? {} : { exp: now + expiresIn }), ...claims };
  const head = `${b64url({ alg, typ: 'JWT' })}.${b64url(payload)}`;
  if (alg === 'none') return `${head}.`;
  const hash = alg === 'HS384' ? 'sha384' : alg === 'HS512' ? 'sha512' : 'sha256';
  return `${head}.${createHmac(hash, secret).update(head).digest('base64url')}`;
}

/** A token whose payload was changed after signing. */
export function tamper(token: string, claims: Record<string, unknown>): string {
  const [head, payload, sig] = token.split('.');
  const decoded = JSON.parse(Buffer.from(payload, 'base64url').toString());
  return `${head}.${b64url({ ...decoded, ...claims })}.${sig}`;
}
