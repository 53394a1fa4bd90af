import { EmailClient, type EmailClientOptions } from '@azure/communication-email';
import { ClientSecretCredential, type TokenCredential } from '@azure/identity';
import { resolveSecret } from '../../core/config/schema.ts';
import { registerSecret } from '../../core/config/secrets.ts';
import { ConfigurationError } from '../../core/errors.ts';
import { connectAgents, proxyConfigured } from '../http/agents.ts';
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../http/connect-watch.ts';
import { repeatabilityPolicy } from './api-repeatability.ts';
import type { AzureConfig } from './config.ts';

const azureApi = { provider: 'azure', mode: 'api' as const };

/**
 * The `EmailClient` for a configuration: `connectionString`, or `endpoint` with `accessKey` or an Entra
 * application (`entra`, or a token credential of the caller's). A configured `endpoint` overrides the one in the
 * connection string.
 */
export function createEmailClient(
  config: AzureConfig,
  env: NodeJS.ProcessEnv,
  credential?: TokenCredential,
  clientOptions: EmailClientOptions = {},
): EmailClient {
  let endpoint = config.endpoint;
  let key: string | undefined;
  if (config.connectionString) {
    const parsed = parseConnectionString(resolveSecret(config.connectionString, 'connectionString', env));
    endpoint ??= parsed.endpoint;
    key = parsed.accessKey;
  } else if (config.accessKey) {
    key = resolveSecret(config.accessKey, 'accessKey', env);
  }
  if (!endpoint) throw missing('endpoint', 'is required in api mode unless the connection string names one');
  // The SDK wants the bare resource URL (no path).
  endpoint = origin(endpoint, config.endpoint ? 'endpoint' : 'connectionString');
  const options: EmailClientOptions = {
    ...clientOptions,
    // The SDK retries a 429 after Retry-After (a send that looks like a hang) and re-POSTs after a dropped
    // connection: retry and failover are the router's decisions, and its retries are the repeatable ones.
    retryOptions: { maxRetries: 0 },
    additionalPolicies: [
      ...(clientOptions.additionalPolicies ?? []),
      { policy: repeatabilityPolicy, position: 'perCall' },
    ],
    // Plain http only on loopback: the emulator and local proxies. Anywhere else the key would travel in clear.
    ...(isLoopbackHttp(endpoint) ? { allowInsecureConnection: true } : {}),
    ...connectAgent(config, clientOptions, endpoint, env),
  };
  if (endpoint.startsWith('http:') && !isLoopbackHttp(endpoint)) {
    throw missing('endpoint', 'must be https (plain http is allowed only for 127.0.0.1 and localhost)');
  }
  if (key !== undefined) return new EmailClient(endpoint, { key }, options);
  if (credential) return new EmailClient(endpoint, credential, options);
  if (!config.entra) throw missing('accessKey', 'or entra is required in api mode with an endpoint');
  const { tenantId, clientId, clientSecret } = config.entra;
  const secret = resolveSecret(clientSecret, 'entra.clientSecret', env);
  return new EmailClient(endpoint, new ClientSecretCredential(tenantId, clientId, secret), options);
}

/**
 * The pipeline has no connect timeout: a bounded agent (with the caller's TLS settings, which an agent replaces)
 * tells an endpoint that never completed TLS from one that took the request. An agent of the caller's, or a
 * proxy (which the pipeline would reach through an agent of its own), is left as it is.
 */
function connectAgent(
  config: AzureConfig,
  clientOptions: EmailClientOptions,
  endpoint: string,
  env: NodeJS.ProcessEnv,
): Pick<EmailClientOptions, 'agent'> {
  if (clientOptions.agent || clientOptions.proxyOptions || proxyConfigured(env)) return {};
  const timeoutMs = config.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  return { agent: connectAgents(timeoutMs, clientOptions.tlsOptions ?? {}).for(endpoint) };
}

/** `endpoint=https://x.communication.azure.com/;accesskey=<base64>`, keys in any case. */
function parseConnectionString(text: string): { endpoint?: string; accessKey: string } {
  const fields = new Map<string, string>();
  for (const part of text.split(';')) {
    const at = part.indexOf('=');
    if (at > 0) fields.set(part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).trim());
  }
  const accessKey = fields.get('accesskey');
  if (!accessKey) throw missing('connectionString', 'must be "endpoint=https://...;accesskey=..."');
  registerSecret(accessKey);
  const endpoint = fields.get('endpoint');
  return endpoint ? { endpoint, accessKey } : { accessKey };
}

function origin(url: string, path: string): string {
  try {
    return new URL(url).origin;
  } catch {
    throw missing(path, 'has an endpoint that is not a URL');
  }
}

function isLoopbackHttp(endpoint: string): boolean {
  const url = new URL(endpoint);
  return url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

function missing(path: string, message: string): ConfigurationError {
  return new ConfigurationError(`${path} ${message}`, { ...azureApi, issues: [{ path, message }] });
}
