import { type MailrouteConfig, parseConfig } from '../../core/config.ts';
import { positiveIntSetting } from '../../core/env-settings.ts';
import { ConfigurationError, type FieldIssue } from '../../core/errors.ts';
import type { Mailer } from '../../core/mailer.ts';
import { queueDeadlines } from '../../core/queue-batch.ts';
import { describeSecretRef, isCloudSecretRef, secretRefsIn } from '../../core/secret-refs.ts';
import { createMailer } from '../../index.ts';
import { STORAGE_CONNECTION } from './bindings.ts';
import host from './host.json' with { type: 'json' };
import { mailerLogger } from './log.ts';
import { storageAccess } from './storage.ts';

/** What an app setting holds when the platform could not resolve its Key Vault reference (no access, no secret). */
const UNRESOLVED_KEY_VAULT_REFERENCE = /^@Microsoft\.KeyVault\(/i;

let mailer: Promise<Mailer> | undefined;

/**
 * The mailer, built at an instance's first invocation and kept for its life; a failed build is not kept, so the
 * next invocation tries again. Configuration: the `MAILROUTE_CONFIG` app setting (JSON or YAML, secret
 * references only). Secrets: `{ env: NAME }`, where the app setting NAME is a Key Vault reference
 * (`@Microsoft.KeyVault(SecretUri=...)`) that the platform resolves into the environment before the worker starts.
 */
export function mailerOnce(env: NodeJS.ProcessEnv = process.env): Promise<Mailer> {
  mailer ??= buildMailer(env).catch((error: unknown) => {
    mailer = undefined;
    throw error;
  });
  return mailer;
}

async function buildMailer(env: NodeJS.ProcessEnv): Promise<Mailer> {
  const text = env.MAILROUTE_CONFIG;
  if (!text) {
    const message = 'is not set: give the routing configuration as JSON or YAML (or a Key Vault reference to it)';
    throw new ConfigurationError(`MAILROUTE_CONFIG ${message}`, { issues: [{ path: 'MAILROUTE_CONFIG', message }] });
  }
  if (UNRESOLVED_KEY_VAULT_REFERENCE.test(text)) throw unresolved('MAILROUTE_CONFIG', 'MAILROUTE_CONFIG');
  const config = parseConfig(text, 'MAILROUTE_CONFIG');
  const table = env.MAILROUTE_STORE_TABLE;
  if (table) config.store = tableStore(table, env);
  const issues = secretIssues(config, env);
  if (issues.length) {
    throw new ConfigurationError(`MAILROUTE_CONFIG: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, {
      issues,
    });
  }
  return createMailer(config, { logger: mailerLogger });
}

/** `MAILROUTE_STORE_TABLE` in the app's storage account: idempotency, shared health and rate limits. */
function tableStore(tableName: string, env: NodeJS.ProcessEnv): NonNullable<MailrouteConfig['store']> {
  if (!/^[A-Za-z][A-Za-z0-9]{2,62}$/.test(tableName)) {
    const message = `must be 3-63 letters and digits, starting with a letter (an Azure table name), not "${tableName}"`;
    throw new ConfigurationError(`MAILROUTE_STORE_TABLE ${message}`, {
      issues: [{ path: 'MAILROUTE_STORE_TABLE', message }],
    });
  }
  const access = storageAccess(env);
  return 'connectionString' in access
    ? { type: 'azure-table', tableName, connectionString: { env: STORAGE_CONNECTION } }
    : { type: 'azure-table', tableName, endpoint: access.serviceUri('table') };
}

/** References the platform cannot serve here: AWS stores, and Key Vault references it failed to resolve. */
function secretIssues(config: MailrouteConfig, env: NodeJS.ProcessEnv): FieldIssue[] {
  return secretRefsIn(config).flatMap(({ path, ref }) => {
    if (isCloudSecretRef(ref)) {
      const message = `${describeSecretRef(ref)} cannot be read on Azure: put the secret in Key Vault and use { env: NAME } with the app setting NAME = @Microsoft.KeyVault(SecretUri=...)`;
      return [{ path, message }];
    }
    return UNRESOLVED_KEY_VAULT_REFERENCE.test(env[ref.env] ?? '') ? [unresolved(ref.env, path).issues[0]!] : [];
  });
}

function unresolved(setting: string, path: string) {
  const message = `app setting ${setting} is a Key Vault reference the platform could not resolve: give the app's identity Key Vault Secrets User on the vault, check the secret exists, then restart the app`;
  return new ConfigurationError(`${path}: ${message}`, { issues: [{ path, message }] });
}

/** `hh:mm:ss` or `d.hh:mm:ss` in ms; Infinity for `-1` (no timeout, Flex Consumption and Premium). */
function timeSpanMs(text: string): number {
  const match = /^(?:(\d+)\.)?(\d+):(\d{2}):(\d{2})$/.exec(text);
  if (!match) return Number.POSITIVE_INFINITY;
  const [, days = '0', hours, minutes, seconds] = match;
  return (((Number(days) * 24 + Number(hours)) * 60 + Number(minutes)) * 60 + Number(seconds)) * 1000;
}

/**
 * Epoch ms by which a send must have answered: the invocation's start plus host.json's `functionTimeout`
 * (or its `AzureFunctionsJobHost__functionTimeout` override), less `MAILROUTE_DEADLINE_MARGIN_MS` (default 10 s)
 * kept for the failed-queue write and the answer. The host gives no remaining-time API, so this is the bound.
 * `capMs` bounds it further (an HTTP answer); with neither, there is no deadline (Infinity).
 */
export function sendDeadline(startedAt: number, env: NodeJS.ProcessEnv = process.env, capMs = Infinity): number {
  const timeout = Math.min(timeSpanMs(env.AzureFunctionsJobHost__functionTimeout ?? host.functionTimeout), capMs);
  return startedAt + timeout - positiveIntSetting(env, 'MAILROUTE_DEADLINE_MARGIN_MS', 10_000);
}

/**
 * The queue function's two bounds: the send deadline (`sendDeadline`), and the failed-queue write's, half the
 * margin later; the other half is left for the answer, so a failed queue that does not answer fails the
 * invocation (a retry) before the host's `functionTimeout` does. With no timeout (`-1`), neither.
 */
export function queueDeadlinesFrom(startedAt: number, env: NodeJS.ProcessEnv = process.env) {
  const timeout = timeSpanMs(env.AzureFunctionsJobHost__functionTimeout ?? host.functionTimeout);
  return queueDeadlines(startedAt + timeout, positiveIntSetting(env, 'MAILROUTE_DEADLINE_MARGIN_MS', 10_000));
}

/** host.json's `maxDequeueCount`, or its app-setting override: the dequeue after which the host poisons. */
export function maxDequeueCount(env: NodeJS.ProcessEnv = process.env): number {
  return positiveIntSetting(
    env,
    'AzureFunctionsJobHost__extensions__queues__maxDequeueCount',
    host.extensions.queues.maxDequeueCount,
  );
}
