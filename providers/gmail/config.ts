import { z } from 'zod';
import { credentialPair } from '../../core/config/provider-entry.ts';
import { secretRef } from '../../core/config/secret-refs.ts';
import type { ProviderEntry } from '../../core/contract/provider-descriptor.ts';
import type { FieldIssue } from '../../core/errors.ts';

/** A Gmail (Google Workspace) entry's own fields. */
export const gmailFields = {
  domain: z.string().optional().describe('Your Workspace domain, sent as the EHLO name to the relay.'),
  smtpAuth: z.enum(['none', 'password', 'xoauth2']).optional(),
  smtpCredentials: credentialPair.optional(),
  serviceAccount: z
    .object({
      clientEmail: z.string(),
      privateKey: secretRef,
      tokenUrl: z.url().optional().describe('OAuth token endpoint; default https://oauth2.googleapis.com/token.'),
    })
    .strict()
    .optional()
    .describe('Service account with domain-wide delegation (API mode and SMTP XOAUTH2).'),
  user: z.string().optional().describe('The Workspace user to send as (the JWT sub).'),
  dkimSelector: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, 'must be a DNS label such as "google"')
    .optional()
    .describe(
      'The DKIM selector set up for the domain in the Admin console (Apps > Gmail > Authenticate email); default "google". Read by `mailroute doctor`.',
    ),
  lookup: z
    .boolean()
    .optional()
    .describe(
      "settle an ambiguous API send by looking its Message-ID up in the user's mailbox; needs https://www.googleapis.com/auth/gmail.readonly granted to the service account's domain-wide delegation",
    ),
};

export type GmailConfig = ProviderEntry<typeof gmailFields>;

/** Gmail takes the composed MIME as it is: there is nothing per message to tell it, so any option is refused. */
export const gmailOptions = z.object({}).strict();

/** The API acts for `user` as a service account; the relay wants a domain without AUTH, credentials with it. */
export function gmailRequirements(entry: GmailConfig): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const need = (path: string, message: string) => issues.push({ path, message });
  if (entry.mode === 'api') {
    if (!entry.serviceAccount) need('serviceAccount', 'is required in api mode');
    if (!entry.user) need('user', 'is required in api mode: the user to send as');
    return issues;
  }
  const auth = entry.smtpAuth ?? 'none';
  if (entry.lookup) need('lookup', 'is only valid in api mode');
  if (auth === 'none' && !entry.domain)
    need('domain', 'is required for the relay without SMTP AUTH: it is the EHLO name');
  if (auth === 'password' && !entry.smtpCredentials) need('smtpCredentials', 'is required with smtpAuth "password"');
  if (auth === 'xoauth2' && !entry.serviceAccount) need('serviceAccount', 'is required with smtpAuth "xoauth2"');
  if (auth === 'xoauth2' && !entry.user) need('user', 'is required with smtpAuth "xoauth2": the user to sign in as');
  return issues;
}
