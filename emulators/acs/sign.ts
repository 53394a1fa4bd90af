import { createHash, createHmac } from 'node:crypto';

export interface AcsSignOptions {
  method: string;
  body?: string;
  accessKey: string;
  /** Sign and send this content hash instead of the body's (to test that the service checks it). */
  contentHash?: string;
  date?: Date;
}

/**
 * Authentication headers for a raw request to ACS (or the emulator), signed as `@azure/communication-common`
 * does. Kept apart from `auth.ts` so the signer and the verifier are two implementations that check each other.
 * @example
 * await fetch(url, { method: 'POST', body, headers: { ...signAcsRequest(url, { method: 'POST', body, accessKey }) } });
 */
export function signAcsRequest(url: string | URL, options: AcsSignOptions): Record<string, string> {
  const target = new URL(url);
  const date = (options.date ?? new Date()).toUTCString();
  const hash =
    options.contentHash ??
    createHash('sha256')
      .update(options.body ?? '')
      .digest('base64');
  const stringToSign = `${options.method.toUpperCase()}\n${target.pathname}${target.search}\n${date};${target.host};${hash}`;
  const signature = createHmac('sha256', Buffer.from(options.accessKey, 'base64'))
    .update(stringToSign)
    .digest('base64');
  return {
    'x-ms-date': date,
    'x-ms-content-sha256': hash,
    authorization: `HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=${signature}`,
  };
}

/** A `fetch` signed like the SDK signs, for requests the SDK cannot be made to send (bad hashes, raw bodies). */
export function signedAcsFetch(
  url: string,
  options: AcsSignOptions & { headers?: Record<string, string> },
): Promise<Response> {
  const { headers = {}, ...sign } = options;
  const auth = signAcsRequest(url, sign);
  return fetch(url, {
    method: sign.method,
    body: sign.body || undefined,
    headers: { 'content-type': 'application/json', ...auth, ...headers },
  });
}
