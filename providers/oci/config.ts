import { z } from 'zod';
import { credentialPair } from '../../core/config/provider-entry.ts';
import { secretRef } from '../../core/config/secret-refs.ts';
import type { ProviderEntry } from '../../core/contract/provider-descriptor.ts';
import type { FieldIssue } from '../../core/errors.ts';

/** An OCI Email Delivery entry's own fields. */
export const ociFields = {
  region: z.string().min(1),
  compartmentId: z.string().optional(),
  smtpCredentials: credentialPair.optional(),
  auth: z.enum(['apiKey', 'resourcePrincipal']).optional(),
  apiKey: z
    .object({
      tenancy: z.string(),
      user: z.string(),
      fingerprint: z.string(),
      privateKey: secretRef,
      passphrase: secretRef.optional(),
    })
    .strict()
    .optional(),
};

export type OciConfig = ProviderEntry<typeof ociFields>;

/** OCI Email Delivery has nothing per message beyond the message itself, so any option is refused. */
export const ociOptions = z.object({}).strict();

/** SMTP signs in with SMTP credentials; the API submits into a compartment, signed with an API key. */
export function ociRequirements(entry: OciConfig): FieldIssue[] {
  if (entry.mode === 'smtp') {
    return entry.smtpCredentials ? [] : [{ path: 'smtpCredentials', message: 'is required in smtp mode' }];
  }
  const issues: FieldIssue[] = [];
  if (!entry.compartmentId) issues.push({ path: 'compartmentId', message: 'is required in api mode' });
  if ((entry.auth ?? 'apiKey') === 'apiKey' && !entry.apiKey) {
    issues.push({ path: 'apiKey', message: 'is required in api mode unless auth is "resourcePrincipal"' });
  }
  return issues;
}
