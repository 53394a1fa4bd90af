import { z } from 'zod';
import type { Mode } from '../contract/adapter.ts';
import type { FieldIssue } from '../errors.ts';
import { providerRoutingFields } from './routing-config.ts';
import { secretRef } from './secret-refs.ts';

const smtpSettings = z
  .object({
    host: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535).optional(),
    secure: z.boolean().optional().describe('Implicit TLS (465); default: by port.'),
    ca: z.string().optional().describe('PEM text, or a path to a PEM file, of a CA to trust for a private relay.'),
    servername: z.string().optional().describe('TLS server name to verify, when host is an IP.'),
    ehloName: z.string().optional().describe('Name sent in EHLO.'),
    pool: z
      .object({
        maxConnections: z.number().int().min(1).max(100).optional(),
        maxMessages: z.number().int().min(1).optional(),
      })
      .strict()
      .optional(),
    connectionTimeoutMs: z.number().int().positive().optional(),
    greetingTimeoutMs: z.number().int().positive().optional(),
    socketTimeoutMs: z.number().int().positive().optional(),
    handshakeTimeoutMs: z
      .number()
      .int()
      .positive()
      .optional()
      .describe(
        'Bound on connect, greeting, EHLO, STARTTLS and AUTH together (default 5000): a server that has not finished them has received nothing, so the send fails over at once.',
      ),
    dkim: z
      .object({
        domainName: z.string().min(1),
        keySelector: z.string().regex(/^[A-Za-z0-9._-]+$/, 'must be a DNS label such as "mail2026"'),
        privateKey: secretRef,
      })
      .strict()
      .optional()
      .describe('Signs every message sent over SMTP with this DKIM key (PEM, from the secret).'),
  })
  .strict()
  .describe('SMTP endpoint override: host, port and TLS settings.');

const limits = z
  .object({
    maxEncodedBytes: z.number().int().positive().optional(),
    maxRecipients: z.number().int().positive().optional(),
  })
  .strict();

/** The fields every provider entry has, whatever its provider (`provider` and `mode` aside). */
export const commonEntryFields = {
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be lower-case letters, digits, - or _')
    .optional()
    .describe('Unique name of this provider entry; default "<provider>-<mode>".'),
  endpoint: z.url().optional().describe('API base URL override (tests, private endpoints, sovereign clouds).'),
  smtp: smtpSettings.optional(),
  connectTimeoutMs: z
    .number()
    .int()
    .positive()
    .optional()
    .describe(
      'API mode: bound on setting up a connection (DNS, TCP, TLS; default 3000): a request that never had a connection was not sent.',
    ),
  limits: limits.optional(),
  ...providerRoutingFields,
};

/** A provider entry as every provider has it, once validated (its name defaulted). */
export type CommonEntry = z.output<z.ZodObject<typeof commonEntryFields>> & {
  name: string;
  provider: string;
  mode: Mode;
};

/** An SMTP username and password, both secret references: for descriptors whose provider has SMTP AUTH. */
export const credentialPair = z.object({ username: secretRef, password: secretRef }).strict();

/**
 * An entry when no provider registry is given: the common fields are checked, the provider's own are kept for the
 * registry to check (`validateConfig` with a registry, or a Mailer given one).
 */
export const openEntrySchema = z
  .object({ ...commonEntryFields, provider: z.string().min(1), mode: z.enum(['smtp', 'api']) })
  .catchall(z.unknown());

/** What any entry needs of its mode, whatever its provider. */
export function commonRequirements(entry: CommonEntry): FieldIssue[] {
  if (entry.mode === 'smtp' && entry.connectTimeoutMs !== undefined) {
    return [{ path: 'connectTimeoutMs', message: 'is for api mode; in smtp mode use smtp.handshakeTimeoutMs' }];
  }
  return [];
}
