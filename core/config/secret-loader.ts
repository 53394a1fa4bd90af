import { ConfigurationError, type FieldIssue } from '../errors.ts';
import {
  type CloudSecretRef,
  describeSecretRef,
  isCloudSecretRef,
  provideSecret,
  type SecretRef,
  secretRefsIn,
} from './secret-refs.ts';

/** Reads every distinct id in one go (SSM's GetParameters takes ten names a call): one result per id, in order. */
export interface SecretBatchReader {
  readAll(ids: string[]): Promise<PromiseSettledResult<unknown>[]>;
}

/**
 * The cloud-neutral half of reading secrets at a function's cold start: every reference that this runtime can
 * read (`idOf` names what to fetch, or undefined for references of another cloud) is fetched once per distinct id,
 * concurrently (or in one batch), and handed to `provideSecret`. A value read may be text or parsed JSON; a
 * reference with `key` takes that field of a JSON secret. Every failure is reported at once, each naming its field
 * (`firstIssueOnly`: the first field only, as the AWS functions always have).
 *
 * @example
 * await loadCloudSecrets(config, (ref) => ('ociVault' in ref ? ref.ociVault : undefined), readVaultSecret);
 */
export async function loadCloudSecrets(
  config: unknown,
  idOf: (ref: CloudSecretRef) => string | undefined,
  read: ((id: string) => Promise<unknown>) | SecretBatchReader,
  options: { firstIssueOnly?: boolean } = {},
): Promise<void> {
  const wanted = secretRefsIn(config).flatMap(({ path, ref }) => {
    const id = isCloudSecretRef(ref) ? idOf(ref) : undefined;
    return id === undefined ? [] : [{ path, ref: ref as CloudSecretRef, id }];
  });
  const ids = [...new Set(wanted.map((w) => w.id))];
  if (ids.length === 0) return;
  const got =
    typeof read === 'function' ? await Promise.allSettled(ids.map((id) => read(id))) : await read.readAll(ids);
  const issues: FieldIssue[] = [];
  for (const { path, ref, id } of wanted) {
    const text = secretText(got[ids.indexOf(id)], ref);
    if ('value' in text) provideSecret(ref, text.value);
    else issues.push({ path, message: `${describeSecretRef(ref)} ${text.problem}` });
  }
  const reported = options.firstIssueOnly ? issues.slice(0, 1) : issues;
  if (reported.length > 0) {
    throw new ConfigurationError(reported.map((i) => `${i.path}: ${i.message}`).join('; '), { issues: reported });
  }
}

/** The text a reference names in what was read: all of it, or with `key`, one field of a JSON secret. */
function secretText(
  got: PromiseSettledResult<unknown> | undefined,
  ref: CloudSecretRef,
): { value: string } | { problem: string } {
  if (got?.status !== 'fulfilled') {
    const reason: unknown = got?.status === 'rejected' ? got.reason : 'no value';
    return { problem: `could not be read (${(reason as Error | undefined)?.message ?? String(reason)})` };
  }
  const key = 'key' in ref ? ref.key : undefined;
  const field = key === undefined ? got.value : Reflect.get(asObject(got.value) ?? {}, key);
  const text = typeof field === 'object' && field ? JSON.stringify(field) : field === undefined ? '' : String(field);
  if (text) return { value: text };
  return { problem: key === undefined ? 'is empty' : `has no field "${key}" (is it JSON?)` };
}

/** A JSON secret as an object: parsed already (middy parses SSM values), or its text parsed here. */
function asObject(value: unknown): object | undefined {
  let parsed = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  return typeof parsed === 'object' && parsed !== null ? parsed : undefined;
}

/**
 * Refuses, at cold start, every secret reference a runtime cannot serve (another cloud's store, a Key Vault
 * reference the platform left unresolved): `problem` says why, or undefined when the reference is fine. One
 * `ConfigurationError` names every such field.
 */
export function refuseSecretRefs(config: unknown, problem: (ref: SecretRef) => string | undefined): void {
  const issues = secretRefsIn(config).flatMap(({ path, ref }) => {
    const message = problem(ref);
    return message ? [{ path, message }] : [];
  });
  if (issues.length > 0) {
    throw new ConfigurationError(`MAILROUTE_CONFIG: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, {
      issues,
    });
  }
}
