import { AsyncLocalStorage } from 'node:async_hooks';
import {
  type AuthenticationDetailsProvider,
  CircuitBreaker,
  type ClientConfiguration,
  NoRetryConfigurationDetails,
  ResourcePrincipalAuthenticationDetailsProvider,
  SimpleAuthenticationDetailsProvider,
} from 'oci-common';
import { EmailDPClient } from 'oci-emaildataplane';
import { unvalidatedEntry } from '../../core/contract/provider-descriptor.ts';
import { ConfigurationError } from '../../core/errors.ts';
import type { OciConfig } from './config.ts';

/** Resolved API-key material; the adapter resolves the secrets so this file never reads the environment. */
export interface OciApiKeyMaterial {
  tenancy: string;
  user: string;
  fingerprint: string;
  privateKey: string;
  passphrase?: string;
}

/** The SDK call being made, if any: its abort signal, and that it is ours (to quiet the SDK's notices in it). */
const sdkCalls = new AsyncLocalStorage<{ signal: AbortSignal | undefined }>();

/**
 * Runs `call` so that the SDK's fetch gets `signal`. The SDK takes no per-call signal, but it passes the client's
 * `httpOptions` to every fetch as its init; the getter there reads the signal of the call it runs in.
 */
export function withCallSignal<T>(signal: AbortSignal | undefined, call: () => Promise<T>): Promise<T> {
  quietRetryNotices();
  return sdkCalls.run({ signal }, call);
}

/**
 * What oci-common's GenericRetrier prints with `console.warn` whenever a call fails ("Request cannot be retried. Not
 * Retrying. Exception occurred : …"), and when it retries or gives up. It prints them unconditionally: `LOG.logger`
 * governs only its debug lines, and there is no setting for these (oci-common 2.139).
 */
const RETRY_NOTICE =
  /^(?:Request cannot be retried\. Not Retrying\.|All retry attempts have exhausted\.|Request failed with Exception :)/;
let quieted = false;

/**
 * No SDK prints to stderr on its own: the failure those notices tell is thrown to the adapter, which maps and reports
 * it. Only those notices, and only inside this module's SDK calls, are dropped; every other warning goes through.
 */
function quietRetryNotices(): void {
  if (quieted) return;
  quieted = true;
  const warn = console.warn;
  console.warn = function (this: Console, ...args: unknown[]) {
    if (sdkCalls.getStore() && typeof args[0] === 'string' && RETRY_NOTICE.test(args[0])) return;
    warn.apply(this, args);
  };
}

/**
 * Resource principal exists only inside OCI Functions (it reads OCI_RESOURCE_PRINCIPAL_* variables that the
 * platform sets), so this branch is not exercised by the tests here.
 */
export function authProvider(config: OciConfig, key: OciApiKeyMaterial | undefined): AuthenticationDetailsProvider {
  if (config.auth === 'resourcePrincipal') {
    try {
      return ResourcePrincipalAuthenticationDetailsProvider.builder();
    } catch (error) {
      throw new ConfigurationError(`${config.name}: resource principal unavailable (not in OCI Functions?)`, {
        provider: 'oci',
        mode: 'api',
        cause: error,
        issues: [{ path: 'auth', message: 'resourcePrincipal works only inside OCI Functions' }],
      });
    }
  }
  if (!key) throw unvalidatedEntry(config, 'apiKey');
  return new SimpleAuthenticationDetailsProvider(
    key.tenancy,
    key.user,
    key.fingerprint,
    key.privateKey,
    key.passphrase ?? null,
  );
}

/**
 * The client configuration every OCI client here takes: the SDK's retries and circuit breaker off, per client (the
 * environment switches for both are read only when oci-common is first imported, and retrying or failing over is
 * the router's decision), and each fetch given the signal of the `withCallSignal` call it runs in.
 */
export function ociClientConfiguration(): ClientConfiguration {
  return {
    retryConfiguration: NoRetryConfigurationDetails,
    circuitBreaker: new CircuitBreaker({ disableClientCircuitBreaker: true }),
    httpOptions: {
      get signal() {
        return sdkCalls.getStore()?.signal;
      },
    },
  };
}

/** An EmailDPClient configured by `ociClientConfiguration`, for the entry's region or endpoint. */
export function createOciEmailClient(config: OciConfig, key: OciApiKeyMaterial | undefined): EmailDPClient {
  const provider = authProvider(config, key);
  let client: EmailDPClient;
  try {
    client = new EmailDPClient({ authenticationDetailsProvider: provider }, ociClientConfiguration());
  } catch (error) {
    // The request signer parses the private key here: a malformed key or a wrong passphrase fails now.
    throw new ConfigurationError(`${config.name}: the API signing key could not be loaded`, {
      provider: 'oci',
      mode: 'api',
      cause: error,
      issues: [{ path: 'apiKey.privateKey', message: 'is not a PEM private key (or the passphrase is wrong)' }],
    });
  }
  // regionId builds the endpoint even for a region this SDK version does not know yet.
  client.regionId = config.region;
  if (config.endpoint) client.endpoint = config.endpoint.replace(/\/+$/, '');
  return client;
}
