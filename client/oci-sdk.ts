import {
  type AuthenticationDetailsProvider,
  CircuitBreaker,
  type ClientConfiguration,
  NoRetryConfigurationDetails,
  ResourcePrincipalAuthenticationDetailsProvider,
  SimpleAuthenticationDetailsProvider,
} from 'oci-common';
import { ConfigurationError } from '../core/errors.ts';

/**
 * SDK settings every OCI client of this project uses: the SDK's own retries (8 attempts over about 105 s on 429
 * and 5xx) and its per-client circuit breaker are off, per client, because the environment switches for both are
 * read only when oci-common is first imported, and retrying is the queue's or the caller's decision.
 */
export function ociClientConfiguration(): ClientConfiguration {
  return {
    retryConfiguration: NoRetryConfigurationDetails,
    circuitBreaker: new CircuitBreaker({ disableClientCircuitBreaker: true }),
  };
}

/** The variables that name an API signing key when there is no resource principal (tests, a laptop). */
export const OCI_API_KEY_VARIABLES = [
  'MAILROUTE_OCI_TENANCY',
  'MAILROUTE_OCI_USER',
  'MAILROUTE_OCI_FINGERPRINT',
  'MAILROUTE_OCI_PRIVATE_KEY',
] as const;

/**
 * Who an OCI function is: its resource principal inside OCI Functions (the platform sets
 * `OCI_RESOURCE_PRINCIPAL_VERSION` and the token files), else the API key in `MAILROUTE_OCI_TENANCY`,
 * `MAILROUTE_OCI_USER`, `MAILROUTE_OCI_FINGERPRINT`, `MAILROUTE_OCI_PRIVATE_KEY` (PEM; `\n` escapes allowed) and
 * optionally `MAILROUTE_OCI_PASSPHRASE`. A missing variable is named.
 */
export function ociAuthFromEnv(env: NodeJS.ProcessEnv = process.env): AuthenticationDetailsProvider {
  if (env.OCI_RESOURCE_PRINCIPAL_VERSION) {
    try {
      return ResourcePrincipalAuthenticationDetailsProvider.builder();
    } catch (error) {
      throw new ConfigurationError(`the function's resource principal could not be loaded: ${String(error)}`, {
        cause: error,
        issues: [{ path: 'OCI_RESOURCE_PRINCIPAL_VERSION', message: 'set, but the resource principal is unusable' }],
      });
    }
  }
  const missing = OCI_API_KEY_VARIABLES.filter((name) => !env[name]);
  if (missing.length > 0) {
    throw new ConfigurationError(
      `no OCI identity: outside OCI Functions set ${missing.join(', ')} (an API signing key), or run inside OCI Functions`,
      { issues: missing.map((path) => ({ path, message: 'is not set' })) },
    );
  }
  return new SimpleAuthenticationDetailsProvider(
    env.MAILROUTE_OCI_TENANCY!,
    env.MAILROUTE_OCI_USER!,
    env.MAILROUTE_OCI_FINGERPRINT!,
    env.MAILROUTE_OCI_PRIVATE_KEY!.replace(/\\n/g, '\n'),
    env.MAILROUTE_OCI_PASSPHRASE || null,
  );
}

/**
 * What the SDK rejects with: an OciError (statusCode, serviceCode, message, opcRequestId) when the service
 * answered, or a plain object `{ code, message }` (not an Error) when the fetch itself failed.
 */
export interface OciFailure {
  statusCode?: number;
  serviceCode?: string;
  message?: string;
  opcRequestId?: string | null;
}

export function ociFailureOf(error: unknown): OciFailure {
  return (typeof error === 'object' && error !== null ? error : { message: String(error) }) as OciFailure;
}
