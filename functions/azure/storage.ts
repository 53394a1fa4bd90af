import type { MailrouteConfig } from '../../core/config/schema.ts';
import { ConfigurationError } from '../../core/errors.ts';
import { STORAGE_CONNECTION } from './bindings.ts';

/**
 * How the app reaches its storage account, from the same settings the host uses for `AzureWebJobsStorage`:
 * a connection string (local, Azurite), or the managed identity with `__accountName` or `__<service>ServiceUri`
 * (and `__clientId` for a user-assigned identity).
 */
export type StorageAccess =
  | { connectionString: string }
  | { serviceUri: (service: 'queue' | 'table') => string; clientId?: string };

export function storageAccess(env: NodeJS.ProcessEnv = process.env): StorageAccess {
  const connectionString = env[STORAGE_CONNECTION];
  if (connectionString) return { connectionString };
  const account = env[`${STORAGE_CONNECTION}__accountName`];
  const uri = (service: 'queue' | 'table') =>
    env[`${STORAGE_CONNECTION}__${service}ServiceUri`] ?? `https://${account}.${service}.core.windows.net`;
  if (!account && !env[`${STORAGE_CONNECTION}__queueServiceUri`]) {
    const message = `set ${STORAGE_CONNECTION} (a connection string) or ${STORAGE_CONNECTION}__accountName (managed identity)`;
    throw new ConfigurationError(`no storage account: ${message}`, { issues: [{ path: STORAGE_CONNECTION, message }] });
  }
  const clientId = env[`${STORAGE_CONNECTION}__clientId`];
  return { serviceUri: uri, ...(clientId ? { clientId } : {}) };
}

/** `MAILROUTE_STORE_TABLE` in the app's storage account: idempotency, shared health and rate limits. */
export function tableStore(tableName: string, env: NodeJS.ProcessEnv): NonNullable<MailrouteConfig['store']> {
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
