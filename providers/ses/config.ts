import { z } from 'zod';
import { credentialPair } from '../../core/config/provider-entry.ts';
import { secretRef } from '../../core/config/secret-refs.ts';
import type { Mode } from '../../core/contract/adapter.ts';
import type { ProviderEntry } from '../../core/contract/provider-descriptor.ts';
import { type FieldIssue, InvalidMessageError } from '../../core/errors.ts';
import type { NormalizedMessage } from '../../core/message/message.ts';

const configurationSet = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be at most 64 letters, digits, _ or -');
// Names travel in an SMTP header too (X-SES-LIST-MANAGEMENT-OPTIONS): printable ASCII, without the ";" between them.
const listName = z.string().regex(/^[ -:<-~]{1,128}$/, 'must be 1 to 128 printable ASCII characters, without ";"');

/** An SES entry's own fields. */
export const sesFields = {
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region such as eu-west-1'),
  configurationSet: configurationSet.optional(),
  credentials: z
    .object({ accessKeyId: secretRef, secretAccessKey: secretRef, sessionToken: secretRef.optional() })
    .strict()
    .optional()
    .describe('IAM keys; API mode uses the default provider chain when absent; SMTP mode derives its password.'),
  smtpCredentials: credentialPair.optional().describe('SES SMTP username and password.'),
};

export type SesConfig = ProviderEntry<typeof sesFields>;

/**
 * `providerOptions.ses`. Both modes carry both: the API as SendEmail fields, SMTP as `X-SES-*` headers.
 * @example { "ses": { "listManagement": { "contactListName": "newsletter", "topicName": "weekly" } } }
 */
export const sesOptions = z
  .object({
    configurationSet: configurationSet
      .optional()
      .describe('Overrides the configured configuration set for this message.'),
    listManagement: z
      .object({ contactListName: listName, topicName: listName.optional() })
      .strict()
      .optional()
      .describe('SES list management: the contact list (and topic) whose unsubscribe links SES adds.'),
  })
  .strict();

export type SesOptions = z.output<typeof sesOptions>;

/**
 * With list management SES adds its own List-Unsubscribe and List-Unsubscribe-Post for the contact list: a message
 * that also sets `unsubscribe` would go out with two of each, so it is refused, in both modes.
 */
export function checkOneUnsubscribe(message: NormalizedMessage, options: SesOptions, mode: Mode): void {
  if (!options.listManagement || !message.unsubscribe) return;
  const issue = {
    path: 'unsubscribe',
    message:
      'cannot be combined with providerOptions.ses.listManagement: SES adds its own List-Unsubscribe for the contact list (use one or the other)',
  };
  throw new InvalidMessageError([issue], { provider: 'ses', mode });
}

/** SMTP mode signs in with SMTP credentials, or with long-term IAM keys it derives the password from. */
export function sesRequirements(entry: SesConfig): FieldIssue[] {
  if (entry.mode !== 'smtp' || entry.smtpCredentials) return [];
  if (!entry.credentials) {
    return [
      {
        path: 'smtpCredentials',
        message: 'is required in smtp mode (or give credentials to derive the SMTP password)',
      },
    ];
  }
  if (entry.credentials.sessionToken) {
    const message = 'temporary credentials cannot sign in to SES SMTP: give smtpCredentials or long-term IAM keys';
    return [{ path: 'credentials.sessionToken', message }];
  }
  return [];
}
