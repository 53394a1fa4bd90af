import { z } from 'zod';
import { formatPath } from '../message/paths.ts';

const LITERAL = 'a secret must be a reference such as { env: "VARIABLE" }, never the value itself';

const envRef = z
  .object({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name') })
  .strict();

const ssmRef = z
  .object({
    ssm: z
      .string()
      .max(2048)
      .regex(/^\/?[A-Za-z0-9_.\-/]+$/, 'must be an SSM parameter name such as /mailroute/smtp-password'),
  })
  .strict();

const secretsManagerRef = z
  .object({
    secretsManager: z
      .string()
      .max(2048)
      .regex(/^[A-Za-z0-9/_+=.@:-]+$/, 'must be a Secrets Manager secret name or ARN such as mailroute/provider'),
    key: z.string().min(1).optional().describe('A field of a JSON secret; default: the whole secret string.'),
  })
  .strict();

/**
 * An OCI Vault secret, by OCID: read once at an OCI function's cold start (the CURRENT version, base64-decoded).
 * Its type declares `secretsManager` as never present only so that code written before it, which tells the AWS
 * references apart with `'ssm' in ref ? … : ref.secretsManager`, still compiles; such code must rule out
 * `'ociVault' in ref` itself.
 */
const ociVaultRef = z
  .object({
    ociVault: z
      .string()
      .regex(
        /^ocid1\.vaultsecret\.[a-z0-9._-]+$/,
        'must be an OCI Vault secret OCID such as ocid1.vaultsecret.oc1.iad.amaaaa…',
      ),
  })
  .strict() as unknown as z.ZodType<{ ociVault: string; secretsManager?: undefined }>;

/**
 * A secret is never written in the configuration: it names where to read it. `{ env }` is read when used;
 * `{ ssm }` (a SecureString parameter), `{ secretsManager }` and `{ ociVault }` are read once at a function's cold
 * start, by the cloud runtime, and handed to `provideSecret`, so that `resolveSecret` stays synchronous everywhere.
 */
export const secretRef = z
  .union([envRef, ssmRef, secretsManagerRef, ociVaultRef], {
    error: (issue) =>
      typeof issue.input === 'string'
        ? LITERAL
        : typeof issue.input === 'object' && issue.input !== null && 'ociVault' in issue.input
          ? '{ ociVault } must be an OCI Vault secret OCID such as ocid1.vaultsecret.oc1.iad.amaaaa…, and nothing else'
          : 'must be one of { env: NAME }, { ssm: "/parameter/name" } or { secretsManager: "secret-id", key?: "field" }',
  })
  .describe(
    'A reference to a secret: { "env": "NAME" }, { "ssm": "/parameter/name" }, { "secretsManager": "id", "key": "field" } or { "ociVault": "ocid1.vaultsecret…" }.',
  );

export type SecretRef = z.infer<typeof secretRef>;
/** A reference that only a cloud runtime can read: resolved at cold start, before the first send. */
export type CloudSecretRef = Exclude<SecretRef, { env: string }>;

// What needs no schema (telling references apart, the values a cloud runtime read, resolving one) is in
// secret-values.ts, which a function's handlers load without zod.
export { describeSecretRef, isCloudSecretRef, providedSecret, provideSecret } from './secret-values.ts';

/**
 * Every secret reference in a (validated) configuration, with the path of its field.
 *
 * @example
 * secretRefsIn(config).filter((r) => isCloudSecretRef(r.ref)) // what a function must read at cold start
 */
export function secretRefsIn(config: unknown): { path: string; ref: SecretRef }[] {
  const out: { path: string; ref: SecretRef }[] = [];
  const walk = (node: unknown, path: PropertyKey[]) => {
    if (typeof node !== 'object' || node === null) return;
    // Without zod's compiled fast path (as validateConfig): a configuration's references are walked once.
    const ref = secretRef.safeParse(node, { jitless: true });
    if (ref.success) {
      out.push({ path: formatPath(path), ref: ref.data });
      return;
    }
    for (const [k, v] of Object.entries(node)) walk(v, [...path, Array.isArray(node) ? Number(k) : k]);
  };
  walk(config, []);
  return out;
}
