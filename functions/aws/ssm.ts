import type { MiddlewareObj } from '@middy/core';
import ssm, { type SSMOptions } from '@middy/ssm';
import type { SecretBatchReader } from '../../core/config/secret-loader.ts';
import type { CloudSecretRef } from '../../core/config/secret-refs.ts';

type Fetch = MiddlewareObj<unknown, unknown>;
// The values land on `request.internal`, typed by middy per key; they are read here by key.
const ssmFetch = (options: SSMOptions) => ssm(options) as unknown as Fetch;

/** Runs an `@middy/ssm` middleware on a request of its own and awaits the values it fetched, one per key. */
async function fetchThrough(fetch: Fetch, keys: string[]): Promise<PromiseSettledResult<unknown>[]> {
  const request = { internal: {} } as Parameters<NonNullable<Fetch['before']>>[0];
  await fetch.before?.(request);
  const internal = request.internal as Record<string, unknown>;
  return Promise.allSettled(keys.map((key) => internal[key]));
}

const configFetches = new Map<string, Fetch>();
const configFetch = (name: string) =>
  configFetches.get(name) ?? ssmFetch({ fetchData: { config: name }, cacheKey: `mailroute-config:${name}` });

/** At INIT: starts reading `MAILROUTE_CONFIG_SSM` (middy prefetches), cached for the container's life. */
export function prefetchConfig(env = process.env): void {
  const name = env.MAILROUTE_CONFIG ? undefined : env.MAILROUTE_CONFIG_SSM;
  if (name) configFetches.set(name, configFetch(name));
}

/** The configuration parameter's value: YAML or JSON text, or JSON that middy parsed. */
export async function readConfigParameter(name: string): Promise<unknown> {
  const [got] = await fetchThrough(configFetch(name), ['config']);
  if (got?.status === 'rejected') throw got.reason;
  return got?.value;
}

/** The parameter a secret reference is read through; a Secrets Manager secret through SSM's reserved path. */
export const parameterOf = (ref: CloudSecretRef): string | undefined =>
  'ociVault' in ref ? undefined : 'ssm' in ref ? ref.ssm : `/aws/reference/secretsmanager/${ref.secretsManager}`;

/**
 * Secret parameters in GetParameters calls of up to 10 names (`WithDecryption`, as middy sends), without middy's
 * cache: the mailer keeps the values for the container's life, and a new container reads them again.
 */
export const parameters: SecretBatchReader = {
  readAll: (names) => {
    const keys = names.map((_, i) => `secret${i}`);
    const fetchData = Object.fromEntries(names.map((name, i) => [keys[i]!, name]));
    return fetchThrough(ssmFetch({ fetchData, cacheExpiry: 0, disablePrefetch: true }), keys);
  },
};
