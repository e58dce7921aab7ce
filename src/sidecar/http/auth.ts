// Bearer-token check of the local endpoint. Any process on the machine can reach 127.0.0.1, so the
// token is what keeps other local users and web pages (DNS rebinding) from driving the model.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Shortest token accepted from a caller (LOCALMOE_API_TOKEN, localmoe/serve): guessable otherwise. */
export const MIN_TOKEN_LENGTH = 16;

/** 32 random bytes, URL-safe: 256 bits, nothing to escape in a header or an env var. */
export function newToken(): string {
  return `lmoe-${randomBytes(32).toString('base64url')}`;
}

/**
 * Whether an Authorization header carries `token`. Both sides are hashed first so the comparison
 * takes the same time whatever the length or content of the guess (timingSafeEqual alone needs
 * equal lengths and would leak the token's length through an early return).
 */
export function authorizationMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header ?? '');
  const given = match ? match[1] : '';
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  // Compare even when the header is malformed, so its absence costs the same time as a wrong token.
  const equal = timingSafeEqual(digest(given), digest(token));
  return equal && match !== null;
}

/** Throws when a caller-chosen token is too weak to guard the endpoint. */
export function checkTokenStrength(token: string): void {
  if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
    throw new Error(
      `the API token must be at least ${MIN_TOKEN_LENGTH} characters without spaces: ` +
        'leave it unset to get a random one',
    );
  }
}
