import { ConfigurationError } from '../errors.ts';
import type { CloudSecretRef, SecretRef } from './secret-refs.ts';
import { registerSecret } from './secrets.ts';

// Secret references once validated: which kind, where they point, the values a cloud runtime read at cold start,
// and resolving one. No schema here (secret-refs.ts has it, and re-exports these): what resolves a secret while
// sending, or answers an unsubscribe link, loads without zod.

export function isCloudSecretRef(ref: SecretRef): ref is CloudSecretRef {
  return !('env' in ref);
}

/** Where a reference points, for error messages: it names a place, never a value. */
export function describeSecretRef(ref: SecretRef): string {
  if ('env' in ref) return `environment variable ${ref.env}`;
  if ('ssm' in ref) return `SSM parameter ${ref.ssm}`;
  if ('ociVault' in ref) return `OCI Vault secret ${ref.ociVault}`;
  return `Secrets Manager secret ${ref.secretsManager}${ref.key === undefined ? '' : ` (key "${ref.key}")`}`;
}

const provided = new Map<string, string>();

function keyOf(ref: CloudSecretRef): string {
  if ('ociVault' in ref) return `ociVault:${ref.ociVault}`;
  return 'ssm' in ref ? `ssm:${ref.ssm}` : `secretsManager:${ref.secretsManager}#${ref.key ?? ''}`;
}

/** Hands over the value a cloud runtime read for a reference; registered for redaction at once. */
export function provideSecret(ref: CloudSecretRef, value: string): void {
  registerSecret(value);
  provided.set(keyOf(ref), value);
}

/** The value provided for a cloud reference, if the runtime has read it. */
export function providedSecret(ref: CloudSecretRef): string | undefined {
  return provided.get(keyOf(ref));
}

/** Reads a secret from where its reference points, registers it for redaction, and names the field when missing. */
export function resolveSecret(ref: SecretRef, field: string, env: NodeJS.ProcessEnv = process.env): string {
  if (isCloudSecretRef(ref)) return providedCloudSecret(ref, field);
  const value = env[ref.env];
  if (value === undefined || value === '') {
    throw new ConfigurationError(`${field}: environment variable ${ref.env} is not set`, {
      issues: [{ path: field, message: `environment variable ${ref.env} is not set` }],
    });
  }
  registerSecret(value);
  return value;
}

/** A cloud reference's value, which the function runtime must have read at cold start (`provideSecret`). */
function providedCloudSecret(ref: CloudSecretRef, field: string): string {
  const value = providedSecret(ref);
  if (value !== undefined) return value;
  const message = `${describeSecretRef(ref)} has not been read: cloud secrets are read at a function's cold start`;
  throw new ConfigurationError(`${field}: ${message}`, { issues: [{ path: field, message }] });
}
