import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';

// jsonwebtoken tries every string or Buffer key as a PEM public key before it falls back to an HMAC
// secret: an OpenSSL decoder run on each verify (about 0.5 ms, most of the ticket endpoint's CPU).
// The keys become KeyObjects once, here, and keep the protection that fallback gave: a public key
// pasted into `secret` must not turn into an HMAC secret anyone could sign with.

/** The HMAC secret as a KeyObject; a PEM key given as a secret is refused. */
export function secretKey(
  secret: string | Buffer | undefined,
  name = 'jwt',
): KeyObject | undefined {
  if (secret === undefined || secret.length === 0) return undefined;
  if (looksLikeKey(secret)) {
    throw new Error(
      `WsTicketModule: \`${name}.secret\` holds a PEM key (or a JWK, or base64 DER), not an HMAC secret: anyone who has the public key could sign tokens. Use \`${name}.publicKey\` (or \`${name}.jwks\`).`,
    );
  }
  return createSecretKey(typeof secret === 'string' ? Buffer.from(secret) : secret);
}

/** The public key (PEM key or certificate) as a KeyObject. */
export function publicKey(key: string | Buffer | undefined, name = 'jwt'): KeyObject | undefined {
  if (key === undefined || key.length === 0) return undefined;
  let object: KeyObject;
  try {
    object = createPublicKey(key);
  } catch {
    throw new Error(
      `WsTicketModule: \`${name}.publicKey\` is not a PEM public key or certificate.`,
    );
  }
  // Refuses, at startup, a key type no JWT algorithm here can use.
  defaultAlgorithmOf(object, name);
  return object;
}

/** The algorithm a public key is used with when `jwt.algorithms` is unset, by its type and curve. */
export function defaultAlgorithmOf(
  key: KeyObject,
  name = 'jwt',
): 'RS256' | 'ES256' | 'ES384' | 'ES512' {
  const type = key.asymmetricKeyType;
  if (type === 'rsa') return 'RS256';
  if (type === 'rsa-pss') {
    throw new Error(
      `WsTicketModule: \`${name}.publicKey\` is an RSA-PSS key (OID id-RSASSA-PSS), which jose cannot ` +
        'use: give the same key as a plain RSA public key (rsaEncryption); PS256 tokens verify ' +
        `with it (set \`${name}.algorithms: ['PS256']\`).`,
    );
  }
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return 'ES256';
    if (curve === 'secp384r1') return 'ES384';
    if (curve === 'secp521r1') return 'ES512';
  }
  throw new Error(
    type === 'ec'
      ? `WsTicketModule: \`${name}.publicKey\` is an EC key on an unsupported curve; use P-256, P-384 or P-521.`
      : `WsTicketModule: \`${name}.publicKey\` is a key of type ${type ?? 'unknown'}; use an RSA or an EC (P-256, P-384, P-521) key.`,
  );
}

/**
 * Whether a "secret" is a key in one of the spellings it reaches an app in: PEM (also with its
 * newlines escaped, as in an env file), a JWK as JSON, or base64 DER (SPKI or PKCS#1).
 */
function looksLikeKey(secret: string | Buffer): boolean {
  const text = typeof secret === 'string' ? secret : secret.toString('latin1');
  if (text.includes('-----BEGIN')) return true;
  const attempts: Parameters<typeof createPublicKey>[0][] = [secret];
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    try {
      attempts.push({ key: JSON.parse(trimmed), format: 'jwk' });
    } catch {
      // Not JSON: not a JWK.
    }
  }
  if (/^[A-Za-z0-9+/=\s_-]{64,}$/.test(trimmed)) {
    const der = Buffer.from(trimmed, 'base64');
    attempts.push({ key: der, format: 'der', type: 'spki' });
    attempts.push({ key: der, format: 'der', type: 'pkcs1' });
  }
  return attempts.some((attempt) => {
    try {
      createPublicKey(attempt);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * Refuses, at startup, asymmetric algorithms a public key cannot verify: RS* and PS* need an RSA
 * key, ES256 / ES384 / ES512 a P-256 / P-384 / P-521 key.
 */
export function checkAlgorithmsFit(
  key: KeyObject,
  algorithms: readonly string[],
  name = 'jwt',
): void {
  const own = defaultAlgorithmOf(key, name);
  const misfits = algorithms.filter(
    (name) => !name.startsWith('HS') && (own === 'RS256' ? !/^(RS|PS)/.test(name) : name !== own),
  );
  if (misfits.length > 0) {
    throw new Error(
      `WsTicketModule: \`${name}.algorithms\` lists ${misfits.join(', ')}, which the \`${name}.publicKey\` (${own === 'RS256' ? 'an RSA key: RS* or PS*' : `an EC key: ${own} only`}) cannot verify.`,
    );
  }
}
