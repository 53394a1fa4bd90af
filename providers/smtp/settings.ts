import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ProviderConfig } from '../../core/config/schema.ts';
import { resolveSecret } from '../../core/config/schema.ts';
import { ConfigurationError } from '../../core/errors.ts';
import type { SmtpEngineOptions } from './engine.ts';

export type SmtpSettings = NonNullable<ProviderConfig['smtp']>;

/** Ports where TLS starts before the greeting; every other port upgrades with STARTTLS. */
export const IMPLICIT_TLS_PORTS: ReadonlySet<number> = new Set([465, 2465]);

/**
 * The engine options a provider's `smtp` settings give, over the provider's own host and port. Secrets
 * (the DKIM key) are resolved here, once, when the adapter is built.
 */
export function engineSettings(
  provider: string,
  settings: SmtpSettings | undefined,
  defaults: { host: string; port: number },
): Omit<SmtpEngineOptions, 'auth' | 'rules'> {
  const s = settings ?? {};
  const port = s.port ?? defaults.port;
  return {
    provider,
    host: s.host ?? defaults.host,
    port,
    secure: s.secure ?? IMPLICIT_TLS_PORTS.has(port),
    ...(s.ca ? { ca: loadCa(s.ca) } : {}),
    ...(s.servername ? { servername: s.servername } : {}),
    ...(s.ehloName ? { ehloName: s.ehloName } : {}),
    ...(s.pool ? { pool: s.pool } : {}),
    ...(s.connectionTimeoutMs ? { connectionTimeoutMs: s.connectionTimeoutMs } : {}),
    ...(s.greetingTimeoutMs ? { greetingTimeoutMs: s.greetingTimeoutMs } : {}),
    ...(s.socketTimeoutMs ? { socketTimeoutMs: s.socketTimeoutMs } : {}),
    ...(s.handshakeTimeoutMs ? { handshakeTimeoutMs: s.handshakeTimeoutMs } : {}),
    ...(s.dkim
      ? {
          dkim: {
            domainName: s.dkim.domainName,
            keySelector: s.dkim.keySelector,
            privateKey: pemFromEnv(resolveSecret(s.dkim.privateKey, 'smtp.dkim.privateKey')),
          },
        }
      : {}),
  };
}

/** `smtp.ca` is PEM text or a path to a PEM file; either way the engine gets the text. */
function loadCa(value: string): string {
  if (value.includes('-----BEGIN')) return value;
  try {
    return readFileSync(resolve(value), 'utf8');
  } catch (error) {
    const message = `cannot read ${resolve(value)}: ${(error as Error).message}`;
    throw new ConfigurationError(`smtp.ca: ${message}`, { issues: [{ path: 'smtp.ca', message }] });
  }
}

/** Keys kept in environment variables often have their line breaks escaped as `\n`. */
export function pemFromEnv(value: string): string {
  return value.includes('\\n') ? value.replace(/\\n/g, '\n') : value;
}
