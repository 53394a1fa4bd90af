import type { SecretsClient } from 'oci-secrets';
import { ConfigurationError } from '../../core/errors.ts';

/**
 * Reads a Vault secret's CURRENT version as text, with the function's resource principal (or the API key of
 * `ociAuthFromEnv` outside OCI). The client is made on first use; `MAILROUTE_OCI_VAULT_ENDPOINT` overrides the
 * secrets endpoint, else the region comes from the resource principal or `MAILROUTE_OCI_REGION`.
 */
export function vaultReader(env: NodeJS.ProcessEnv): (secretId: string) => Promise<string> {
  let client: Promise<SecretsClient> | undefined;
  return async (secretId) => {
    client ??= secretsClient(env).catch((error: unknown) => {
      client = undefined;
      throw error;
    });
    const { secretBundle } = await (await client).getSecretBundle({ secretId });
    const content = secretBundle.secretBundleContent as { contentType?: string; content?: string } | undefined;
    if (content?.contentType !== 'BASE64') throw new Error(`unexpected content type ${content?.contentType}`);
    return Buffer.from(content.content ?? '', 'base64').toString('utf8');
  };
}

/** The Vault client; the OCI SDK loads with the first secret read (only a configuration with `{ ociVault }` has one). */
async function secretsClient(env: NodeJS.ProcessEnv): Promise<SecretsClient> {
  const [{ SecretsClient }, { ociAuthFromEnv, ociClientConfiguration }] = await Promise.all([
    import('oci-secrets'),
    import('../../client/oci-sdk.ts'),
  ]);
  const client = new SecretsClient({ authenticationDetailsProvider: ociAuthFromEnv(env) }, ociClientConfiguration());
  if (env.MAILROUTE_OCI_VAULT_ENDPOINT) client.endpoint = env.MAILROUTE_OCI_VAULT_ENDPOINT;
  else if (env.MAILROUTE_OCI_REGION) client.regionId = env.MAILROUTE_OCI_REGION;
  else if (!env.OCI_RESOURCE_PRINCIPAL_VERSION) {
    throw new ConfigurationError('outside OCI Functions, set MAILROUTE_OCI_REGION (or MAILROUTE_OCI_VAULT_ENDPOINT)', {
      issues: [{ path: 'MAILROUTE_OCI_REGION', message: 'is not set' }],
    });
  }
  return client;
}
