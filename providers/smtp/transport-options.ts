import { registerSecret } from '../../core/config/secrets.ts';
import type { SmtpAuth, SmtpEngineOptions } from './engine.ts';

const DEFAULT_TIMEOUTS = { connectionTimeoutMs: 10_000, greetingTimeoutMs: 10_000, socketTimeoutMs: 60_000 };

/** nodemailer's options for an endpoint: TLS required and verified, timeouts bounded by `boundMs` if given. */
export function transportOptions(o: SmtpEngineOptions, boundMs?: number) {
  const bound = (ms: number) => (boundMs === undefined ? ms : Math.min(ms, boundMs));
  const secure = !o.plaintext && !!o.secure;
  return {
    host: o.host,
    port: o.port,
    secure,
    // A server that does not offer STARTTLS gets no credentials and no message, rather than plaintext.
    ...(o.plaintext ? { ignoreTLS: true } : { requireTLS: !secure }),
    tls: {
      minVersion: 'TLSv1.2' as const,
      rejectUnauthorized: true,
      ...(o.ca ? { ca: o.ca } : {}),
      ...(o.servername ? { servername: o.servername } : {}),
    },
    ...(o.servername ? { servername: o.servername } : {}),
    ...(o.ehloName ? { name: o.ehloName } : {}),
    ...authOptions(o.auth),
    connectionTimeout: bound(o.connectionTimeoutMs ?? DEFAULT_TIMEOUTS.connectionTimeoutMs),
    greetingTimeout: bound(o.greetingTimeoutMs ?? DEFAULT_TIMEOUTS.greetingTimeoutMs),
    socketTimeout: bound(o.socketTimeoutMs ?? DEFAULT_TIMEOUTS.socketTimeoutMs),
    disableFileAccess: true,
    disableUrlAccess: true,
    logger: false,
  };
}

function authOptions(auth: SmtpAuth | undefined) {
  if (!auth) return {};
  // Configured credentials are always used: a server that hides AUTH must not get the message unauthenticated.
  if ('pass' in auth) return { auth: { user: auth.user, pass: auth.pass }, forceAuth: true };
  const provisionCallback = (
    _user: string,
    renew: boolean,
    callback: (error: Error | null, token?: string, expires?: number) => void,
  ) => {
    auth.accessToken(renew).then(
      (t) => {
        registerSecret(t.accessToken);
        registerSecret(Buffer.from(`user=${auth.user}\x01auth=Bearer ${t.accessToken}\x01\x01`).toString('base64'));
        callback(null, t.accessToken, t.expiresAt);
      },
      (error: Error) => callback(error),
    );
  };
  return { auth: { type: 'OAuth2' as const, user: auth.user, provisionCallback }, forceAuth: true };
}

/** A server may echo an AUTH exchange back in an error; its base64 forms are scrubbed like the password. */
export function registerAuthSecrets(user: string, pass: string): void {
  registerSecret(pass);
  registerSecret(Buffer.from(pass).toString('base64'));
  registerSecret(Buffer.from(`\0${user}\0${pass}`).toString('base64'));
}
