import type { MiddlewareObj, Request } from '@middy/core';
import ssm, { type SSMOptions } from '@middy/ssm';
import type { Context } from 'aws-lambda';
import { type MailrouteConfig, parseConfig, validateConfig } from '../../core/config.ts';
import { positiveIntSetting as positiveInt } from '../../core/env-settings.ts';
import { ConfigurationError } from '../../core/errors.ts';
import type { Mailer } from '../../core/mailer.ts';
import { queueDeadlines } from '../../core/queue-batch.ts';
import {
  type CloudSecretRef,
  describeSecretRef,
  isCloudSecretRef,
  provideSecret,
  secretRefsIn,
} from '../../core/secret-refs.ts';
import { createMailer } from '../../index.ts';
import { logger, mailerLogger, observability } from './observability.ts';

/** The Lambda context with the mailer built at cold start. */
export interface MailrouteContext extends Context {
  mailer: Mailer;
}

type AnyRequest = Request<unknown, unknown, Error, MailrouteContext>;
type Middleware = MiddlewareObj<unknown, unknown, Error, MailrouteContext>;

/**
 * Every middleware a mailroute function uses: optionally `answerError` (an error, such as a broken configuration
 * at cold start, becomes the function's answer; `undefined` lets it throw), the Lambda context on log lines,
 * metrics flushed and failures logged per invocation, and the mailer, built once per container.
 */
export function mailrouteRuntime(answerError?: (error: unknown) => unknown, env = process.env): Middleware[] {
  const onError = (request: AnyRequest) => answerError?.(request.error);
  return [...(answerError ? [{ onError }] : []), ...(observability() as Middleware[]), coldStart(env)];
}

// The values land on `request.internal`, typed by middy per key; this module reads them by key itself.
const ssmFetch = (options: SSMOptions) => ssm(options) as unknown as Middleware;

function coldStart(env: NodeJS.ProcessEnv): Middleware {
  const name = env.MAILROUTE_CONFIG ? undefined : env.MAILROUTE_CONFIG_SSM;
  // Fetched during INIT (middy prefetches) and cached for the container's life.
  const configParameter = name
    ? ssmFetch({ fetchData: { config: name }, cacheKey: `mailroute-config:${name}` })
    : undefined;
  let mailer: Promise<Mailer> | undefined;
  return {
    before: async (request) => {
      mailer ??= buildMailer(request, env, configParameter);
      try {
        request.context.mailer = await mailer;
      } catch (error) {
        mailer = undefined; // a failed cold start is tried again by the next invocation
        throw error;
      }
    },
  };
}

async function buildMailer(request: AnyRequest, env: NodeJS.ProcessEnv, parameter?: Middleware): Promise<Mailer> {
  let config: MailrouteConfig;
  if (env.MAILROUTE_CONFIG) config = parseConfig(env.MAILROUTE_CONFIG, 'MAILROUTE_CONFIG');
  else if (parameter) {
    const source = `SSM parameter ${env.MAILROUTE_CONFIG_SSM}`;
    const [got] = await fetchThrough(parameter, request, ['config']);
    if (got?.status !== 'fulfilled') throw new ConfigurationError(`${source} could not be read (${reasonOf(got)})`);
    config = typeof got.value === 'string' ? parseConfig(got.value, source) : validateConfig(got.value, source);
  } else throw new ConfigurationError('no configuration: set MAILROUTE_CONFIG (JSON or YAML) or MAILROUTE_CONFIG_SSM');
  const table = env.MAILROUTE_STORE_TABLE;
  if (table) {
    const given = config.store?.type === 'dynamodb' ? config.store : {};
    config.store = { ...given, type: 'dynamodb', tableName: table };
  }
  await readCloudSecrets(config, request);
  return createMailer(config, { logger: mailerLogger });
}

/** SSM's reserved path through which a Secrets Manager secret is read (needs WithDecryption, as middy sends). */
const parameterOf = (ref: CloudSecretRef) =>
  'ssm' in ref ? ref.ssm : 'secretsManager' in ref ? `/aws/reference/secretsmanager/${ref.secretsManager}` : '';

/** Reads every `{ ssm }` and `{ secretsManager }` reference once, in GetParameters calls of up to 10 names. */
async function readCloudSecrets(config: MailrouteConfig, request: AnyRequest): Promise<void> {
  const refs = secretRefsIn(config);
  const fromEnv = refs.filter((r) => !isCloudSecretRef(r.ref)).map((r) => r.path);
  if (fromEnv.length)
    logger.warn('secrets read from the environment; prefer { ssm } or { secretsManager }', { fromEnv });
  // Only AWS's own stores are read here; another cloud's reference ({ ociVault }) stays unresolved, and the
  // provider entry that uses it fails with a ConfigurationError naming the field.
  const cloud = refs.flatMap(({ path, ref }) =>
    isCloudSecretRef(ref) && ('ssm' in ref || 'secretsManager' in ref) ? [{ path, ref }] : [],
  );
  if (!cloud.length) return;
  const names = [...new Set(cloud.map((c) => parameterOf(c.ref)))];
  const keys = names.map((_, i) => `secret${i}`);
  // No middy cache: the mailer keeps the values for the container's life; a new container reads them again.
  const fetchData = Object.fromEntries(names.map((n, i) => [keys[i]!, n]));
  const got = await fetchThrough(ssmFetch({ fetchData, cacheExpiry: 0, disablePrefetch: true }), request, keys);
  for (const { path, ref } of cloud) provideSecret(ref, secretText(got[names.indexOf(parameterOf(ref))]!, ref, path));
}

/** Runs an `@middy/ssm` middleware and awaits the values it put on `request.internal`. */
async function fetchThrough(middleware: Middleware, request: AnyRequest, keys: string[]) {
  await middleware.before?.(request);
  const internal = request.internal as Record<string, unknown>;
  return Promise.allSettled(keys.map((k) => internal[k]));
}

const reasonOf = (got: PromiseSettledResult<unknown> | undefined) =>
  got?.status === 'rejected' ? ((got.reason as Error)?.message ?? String(got.reason)) : 'no value';

/** The text a reference names: the parameter or secret string, or one field of a JSON secret. */
function secretText(got: PromiseSettledResult<unknown>, ref: CloudSecretRef, path: string): string {
  const key = 'key' in ref ? ref.key : undefined;
  let problem = `could not be read (${reasonOf(got)})`;
  if (got.status === 'fulfilled') {
    const value = got.value;
    const field = key === undefined ? value : typeof value === 'object' && value ? Reflect.get(value, key) : undefined;
    const text = typeof field === 'object' && field ? JSON.stringify(field) : field === undefined ? '' : String(field);
    if (text) return text;
    problem = key === undefined ? 'is empty' : `has no field "${key}" (is it JSON?)`;
  }
  const message = `${describeSecretRef(ref)} ${problem}`;
  throw new ConfigurationError(`${path}: ${message}`, { issues: [{ path, message }] });
}

/**
 * Epoch ms by which a send must have answered: the function's remaining time less a margin
 * (`MAILROUTE_DEADLINE_MARGIN_MS`, default 1000) for dead-letter writes and the answer itself.
 */
export function deadlineOf(context: Context, env = process.env): number {
  return Date.now() + context.getRemainingTimeInMillis() - positiveInt(env, 'MAILROUTE_DEADLINE_MARGIN_MS', 1_000);
}

/**
 * The queue handler's two bounds: sends end at the remaining time less `MAILROUTE_DEADLINE_MARGIN_MS` (as
 * `deadlineOf`), dead-letter writes half that margin later; the other half is left for the answer, so a DLQ
 * that does not answer never makes the invocation time out.
 */
export function queueDeadlinesOf(context: Context, env = process.env) {
  const end = Date.now() + context.getRemainingTimeInMillis();
  return queueDeadlines(end, positiveInt(env, 'MAILROUTE_DEADLINE_MARGIN_MS', 1_000));
}

export { positiveInt };
