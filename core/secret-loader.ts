import { ConfigurationError, type FieldIssue } from './errors.ts';
import {
  type CloudSecretRef,
  describeSecretRef,
  isCloudSecretRef,
  provideSecret,
  secretRefsIn,
} from './secret-refs.ts';

/**
 * The cloud-neutral half of reading secrets at a function's cold start: every reference that this runtime can
 * read (`idOf` names what to fetch, or undefined for references of another cloud) is fetched once per distinct id,
 * concurrently, and handed to `provideSecret`. Every failure is reported at once, each naming its field.
 *
 * @example
 * await loadCloudSecrets(config, (ref) => ('ociVault' in ref ? ref.ociVault : undefined), readVaultSecret);
 */
export async function loadCloudSecrets(
  config: unknown,
  idOf: (ref: CloudSecretRef) => string | undefined,
  read: (id: string) => Promise<string>,
): Promise<void> {
  const wanted = secretRefsIn(config).flatMap(({ path, ref }) => {
    const id = isCloudSecretRef(ref) ? idOf(ref) : undefined;
    return id === undefined ? [] : [{ path, ref: ref as CloudSecretRef, id }];
  });
  const ids = [...new Set(wanted.map((w) => w.id))];
  const got = await Promise.allSettled(ids.map((id) => read(id)));
  const issues: FieldIssue[] = [];
  for (const { path, ref, id } of wanted) {
    const result = got[ids.indexOf(id)]!;
    if (result.status === 'fulfilled' && result.value !== '') provideSecret(ref, result.value);
    else {
      const why = result.status === 'rejected' ? `could not be read (${messageOf(result.reason)})` : 'is empty';
      issues.push({ path, message: `${describeSecretRef(ref)} ${why}` });
    }
  }
  if (issues.length > 0) {
    throw new ConfigurationError(issues.map((i) => `${i.path}: ${i.message}`).join('; '), { issues });
  }
}

const messageOf = (error: unknown) => (error as Error | undefined)?.message ?? String(error);
