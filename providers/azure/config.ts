import { z } from 'zod';
import { secretRef } from '../../core/config/secret-refs.ts';
import type { ProviderEntry } from '../../core/contract/provider-descriptor.ts';
import type { FieldIssue } from '../../core/errors.ts';

/** An Azure Communication Services Email entry's own fields. */
export const azureFields = {
  connectionString: secretRef.optional(),
  accessKey: secretRef.optional(),
  entra: z
    .object({ tenantId: z.string(), clientId: z.string(), clientSecret: secretRef })
    .strict()
    .optional()
    .describe('Entra application: the API token credential, and the SMTP username parts and password.'),
  resourceName: z.string().optional().describe('ACS resource name, for the SMTP username.'),
  smtpUsername: z.string().optional().describe('A named SMTP username, instead of resource|app|tenant.'),
  engagementTracking: z.boolean().optional(),
  waitForCompletion: z.boolean().optional(),
  pollTimeoutMs: z.number().int().positive().optional(),
  pollIntervalMs: z
    .number()
    .int()
    .positive()
    .optional()
    .describe('API mode: poll interval when the service gives no retry-after; default 2000.'),
  emailService: z
    .object({
      subscriptionId: z.guid(),
      resourceGroup: z.string().min(1),
      name: z.string().min(1),
      armEndpoint: z
        .url({ protocol: /^https$/ })
        .optional()
        .describe('Azure Resource Manager endpoint; default https://management.azure.com (sovereign clouds differ).'),
      authorityHost: z
        .url({ protocol: /^https$/ })
        .optional()
        .describe(
          'Microsoft Entra authority host; default https://login.microsoftonline.com (sovereign clouds differ).',
        ),
    })
    .strict()
    .optional()
    .describe(
      'The Email Communication Service holding the sender domains, for `mailroute doctor` to read their DNS records (Azure Resource Manager; needs Reader on it). Signs in with `entra`, else DefaultAzureCredential.',
    ),
};

export type AzureConfig = ProviderEntry<typeof azureFields>;

/**
 * `providerOptions.azure`. Only the API carries it: over SMTP, tracking is the resource's setting, so a message
 * asking for it there is refused rather than sent without it.
 */
export const azureOptions = z
  .object({
    engagementTracking: z
      .boolean()
      .optional()
      .describe('API mode: overrides the configured engagementTracking for this message.'),
  })
  .strict();

/** The API needs a way in (a connection string, or an endpoint and a key); SMTP signs in as an Entra app. */
export function azureRequirements(entry: AzureConfig): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (entry.mode === 'api' && !entry.connectionString && !(entry.endpoint && (entry.accessKey || entry.entra))) {
    issues.push({ path: 'connectionString', message: 'is required in api mode (or endpoint with accessKey or entra)' });
  }
  if (entry.mode === 'smtp' && !entry.entra) {
    issues.push({ path: 'entra', message: 'is required in smtp mode (its clientSecret is the password)' });
  }
  if (entry.mode === 'smtp' && !entry.smtpUsername && !entry.resourceName) {
    const message = 'is required in smtp mode to build the username (or give smtpUsername)';
    issues.push({ path: 'resourceName', message });
  }
  return issues;
}
