import { readFileSync } from 'node:fs';
import type { AcsErrorDetail } from './errors.ts';

/** The subset of Swagger 2.0 schema keywords the Email definitions use. */
interface Schema {
  $ref?: string;
  type?: string;
  format?: string;
  required?: string[];
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  enum?: string[];
}

// The rules come from the official swagger copied into spec/, so the emulator checks what the spec says
// rather than a hand-written paraphrase of it.
const swagger = JSON.parse(
  readFileSync(new URL('./spec/CommunicationServicesEmail.json', import.meta.url), 'utf8'),
) as {
  definitions: Record<string, Schema>;
};

export const supportedApiVersions = ['2023-03-31', '2025-09-01'] as const;

/**
 * What older stable versions lack compared with the 2025-09-01 file. specs/README: 2023-03-31 differs only
 * by `EmailAttachment.contentId` (inline attachments), so one swagger plus this table covers both.
 */
const missingInVersion: Record<string, readonly string[]> = {
  '2023-03-31': ['EmailAttachment.contentId'],
};

const base64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// Deliberately loose: one @, no spaces. The service's exact address grammar is not published.
const emailAddress = /^[^@\s]+@[^@\s]+$/;

function resolve(schema: Schema): { schema: Schema; name?: string } {
  if (!schema.$ref) return { schema };
  const name = schema.$ref.replace('#/definitions/', '');
  const target = swagger.definitions[name];
  if (!target) throw new Error(`spec has no definition ${name}`);
  return { schema: target, name };
}

function typeOf(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  return typeof value === 'number' && Number.isInteger(value) ? 'integer' : typeof value;
}

function check(value: unknown, raw: Schema, path: string, apiVersion: string): AcsErrorDetail | undefined {
  const { schema, name } = resolve(raw);
  const actual = typeOf(value);
  const expected = schema.type ?? 'object';
  const typeMatches = actual === expected || (expected === 'number' && actual === 'integer');
  if (!typeMatches) return bad(path, `must be of type ${expected}, got ${actual}`);
  if (expected === 'string') {
    const text = value as string;
    if (schema.format === 'byte' && !base64.test(text)) return bad(path, 'must be base64');
    if (schema.enum && !schema.enum.includes(text)) return bad(path, `must be one of ${schema.enum.join(', ')}`);
    return undefined;
  }
  if (expected === 'array') {
    const items = value as unknown[];
    for (const [index, item] of items.entries()) {
      const problem = schema.items && check(item, schema.items, `${path}[${index}]`, apiVersion);
      if (problem) return problem;
    }
    return undefined;
  }
  if (expected !== 'object') return undefined;
  const object = value as Record<string, unknown>;
  for (const key of schema.required ?? []) {
    if (object[key] === undefined || object[key] === null) return bad(`${path}.${key}`, 'is required');
  }
  for (const [key, child] of Object.entries(object)) {
    if (name && missingInVersion[apiVersion]?.includes(`${name}.${key}`)) {
      return bad(`${path}.${key}`, `is not supported in api-version ${apiVersion}`);
    }
    const childSchema = schema.properties?.[key];
    const extra = schema.additionalProperties;
    // Swagger 2.0 allows unknown properties unless told otherwise; the service is assumed to ignore them.
    const target = childSchema ?? (typeof extra === 'object' ? extra : undefined);
    if (!target || child === undefined) continue;
    const problem = check(child, target, childSchema ? `${path}.${key}` : `${path}['${key}']`, apiVersion);
    if (problem) return problem;
  }
  if (name === 'EmailAddress' && !emailAddress.test(object['address'] as string)) {
    return { code: 'InvalidEmailAddress', message: `${path}.address is not a valid email address`, target: path };
  }
  return undefined;
}

function bad(target: string, problem: string): AcsErrorDetail {
  // The code the service uses for schema violations is unverified; BadRequest is the REST guidelines' generic one.
  return { code: 'BadRequest', message: `${target} ${problem}`, target };
}

export interface MessageLimits {
  maxRecipients: number;
}

/** Validates a parsed `EmailMessage` body; returns the first problem in the service's ErrorDetail shape. */
export function validateEmailMessage(
  body: unknown,
  apiVersion: string,
  limits: MessageLimits,
): AcsErrorDetail | undefined {
  const problem = check(body, { $ref: '#/definitions/EmailMessage' }, '$', apiVersion);
  if (problem) return problem;
  const message = body as { senderAddress: string; recipients: Record<string, unknown[] | undefined> };
  if (!emailAddress.test(message.senderAddress)) {
    return {
      code: 'InvalidEmailAddress',
      message: '$.senderAddress is not a valid email address',
      target: '$.senderAddress',
    };
  }
  const { to = [], cc = [], bcc = [] } = message.recipients;
  const count = to.length + cc.length + bcc.length;
  if (count === 0) return bad('$.recipients', 'must name at least one recipient');
  // 50 per message is the documented limit; the exact error the service answers with is unverified.
  if (count > limits.maxRecipients)
    return bad('$.recipients', `has ${count} recipients, more than ${limits.maxRecipients}`);
  return undefined;
}
