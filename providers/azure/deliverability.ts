import type { DnsRecord, DomainResource } from '@azure/arm-communication';
import type { ClientSecretCredentialOptions, TokenCredential } from '@azure/identity';
import { resolveSecret } from '../../core/config/schema.ts';
import { redactSecrets } from '../../core/config/secrets.ts';
import type {
  DeliverabilityContext,
  DomainSetup,
  ExpectedDkimKey,
  ExpectedSpf,
} from '../../core/contract/deliverability.ts';
import { untilAborted } from '../../core/util/deadline.ts';
import type { AzureConfig } from './config.ts';

type EmailService = NonNullable<AzureConfig['emailService']>;

export interface AzureDeliverabilityOptions {
  /** A token credential of your own (managed identity, workload identity), instead of `entra` or the default chain. */
  credential?: TokenCredential;
  /** TLS settings for the Entra and ARM calls: a private CA (`ca`) for a TLS-inspecting proxy or a local emulator. */
  tlsOptions?: ClientSecretCredentialOptions['tlsOptions'];
  env?: NodeJS.ProcessEnv;
}

/** ACS's documented SPF include for custom domains (public cloud). */
const DOCUMENTED_SPF_INCLUDE = 'spf.protection.outlook.com';
const DOCUMENTED_SELECTORS = ['selector1-azurecomm-prod-net', 'selector2-azurecomm-prod-net'];

/**
 * What Azure Communication Services Email needs in DNS for a sender domain. With `emailService` configured and the
 * API allowed, ACS's own view of the domain: the Email Communication Service's domain resource, read through Azure
 * Resource Manager (`domains.get`, which needs Reader on the service), gives the exact SPF and DKIM records and
 * their verification states. Otherwise, or when that read fails, the documented pattern for custom domains in the
 * public cloud: SPF `include:spf.protection.outlook.com` on the sender domain itself (ACS sends with the sender's
 * domain as MAIL FROM) and two DKIM CNAMEs, `selector1-azurecomm-prod-net` and `selector2-azurecomm-prod-net`,
 * into `azurecomm.net`.
 *
 * Signs in to ARM with the entry's `entra` application, else `DefaultAzureCredential`, or `options.credential`.
 */
export async function expectSetup(
  entry: AzureConfig,
  domain: string,
  context: DeliverabilityContext,
  options: AzureDeliverabilityOptions = {},
): Promise<DomainSetup> {
  if (!context.useApi) return documented(domain, 'Azure Resource Manager was not asked (API lookups are off)');
  const service = entry.emailService;
  if (!service) {
    return documented(domain, 'no emailService is configured to read the domain from Azure Resource Manager');
  }
  const where = `Email Communication Service ${service.name} (resource group ${service.resourceGroup})`;
  let resource: DomainResource;
  try {
    const client = await managementClient(entry, service, options);
    try {
      resource = await bounded(context, (abortSignal) =>
        client.domains.get(service.resourceGroup, service.name, domain, { abortSignal }),
      );
    } catch (error) {
      if (!isNotFound(error)) throw error;
      // ARM answers ResourceNotFound for a missing domain and for a missing service alike: the service, read
      // alone, tells them apart, so that a wrong emailService is not reported as a domain to add.
      await bounded(context, (abortSignal) =>
        client.emailServices.get(service.resourceGroup, service.name, { abortSignal }),
      );
      return {
        source: 'api',
        note: `read from Azure Resource Manager: ${domain} is not a domain of the ${where}`,
        verified: false,
        dkim: [],
        envelope: { domain },
        spf: { includes: [DOCUMENTED_SPF_INCLUDE] },
        steps: [addDomainStep(domain, where)],
      };
    }
  } catch (error) {
    return documented(
      domain,
      `the ${where} could not be read from Azure Resource Manager: ${describe(error, context)}`,
    );
  }
  return fromResource(resource, domain, where);
}

/** The documented pattern for a custom domain, with why it is used. */
function documented(domain: string, why: string): DomainSetup {
  return {
    source: 'documented',
    note: `${why}; the documented ACS custom domain records (public cloud) are expected instead, SPF checked on ${domain} itself`,
    dkim: DOCUMENTED_SELECTORS.map((selector) => ({ selector, cname: `${selector}._domainkey.azurecomm.net` })),
    envelope: { domain },
    spf: { includes: [DOCUMENTED_SPF_INCLUDE] },
    steps: [addDomainStep(domain, 'Email Communication Service')],
  };
}

function addDomainStep(domain: string, where: string): string {
  return `add ${domain} as a custom domain of your ${where} and connect it to the Communication Services resource`;
}

/** ACS's view of the domain: its verification states and the records it asks for. */
function fromResource(resource: DomainResource, domain: string, where: string): DomainSetup {
  const states = resource.verificationStates ?? {};
  const records = resource.verificationRecords ?? {};
  const status = (kind: keyof typeof states) => states[kind]?.status ?? 'unknown';
  const dkim = [records.dkim, records.dkim2].flatMap((record) => {
    const key = record && dkimKey(record);
    return key ? [key] : [];
  });
  const management = resource.domainManagement ?? 'unknown';
  const kind =
    management === 'AzureManaged'
      ? 'an Azure managed domain (Azure publishes its DNS records)'
      : management === 'CustomerManagedInExchangeOnline'
        ? 'a domain managed in Exchange Online'
        : 'a custom domain';
  const summary = `domain ${status('domain')}, SPF ${status('spf')}, DKIM ${status('dkim')}, DKIM2 ${status('dkim2')}`;
  return {
    source: 'api',
    note: `read from Azure Resource Manager: ${domain} is ${kind} of the ${where}; ${summary}`,
    verified: status('domain') === 'Verified',
    dkim,
    dkimStatus: `DKIM ${status('dkim')}, DKIM2 ${status('dkim2')}`,
    // The P1 (envelope) sender domain ACS uses: the sender domain itself for a custom domain.
    envelope: { domain: resource.mailFromSenderDomain || domain },
    spf: spfOf(records.spf),
    ...stepsFor(states, records, domain, where),
  };
}

/** What to do on ACS's side: verifications that wait for the customer (not started, failed, cancelled). */
function stepsFor(
  states: NonNullable<DomainResource['verificationStates']>,
  records: NonNullable<DomainResource['verificationRecords']>,
  domain: string,
  where: string,
): Pick<DomainSetup, 'steps'> {
  const waiting = (kind: keyof typeof states) => {
    const value = states[kind]?.status;
    return value === 'NotStarted' || value === 'VerificationFailed' || value === 'CancellationRequested';
  };
  const steps: string[] = [];
  if (waiting('domain')) {
    const txt = records.domain?.value ? ` (TXT ${records.domain.name ?? domain} "${records.domain.value}")` : '';
    steps.push(`publish the ownership record of ${domain}${txt}, then verify the domain in the ${where}`);
  }
  const names = { spf: 'SPF', dkim: 'DKIM', dkim2: 'DKIM2', dmarc: 'DMARC' } as const;
  const pending = (Object.keys(names) as (keyof typeof names)[]).filter(waiting).map((kind) => names[kind]);
  if (pending.length > 0) {
    steps.push(`once its records are published, verify ${pending.join(', ')} of ${domain} in the ${where}`);
  }
  return steps.length > 0 ? { steps } : {};
}

/** `selector1-azurecomm-prod-net._domainkey[.domain]` CNAME `selector1-azurecomm-prod-net._domainkey.azurecomm.net`. */
function dkimKey(record: DnsRecord): ExpectedDkimKey | undefined {
  const name = record.name?.replace(/\.$/, '');
  const value = record.value?.trim().replace(/\.$/, '');
  if (!name || !value) return undefined;
  const at = name.toLowerCase().indexOf('._domainkey');
  const selector = at >= 0 ? name.slice(0, at) : name.split('.')[0]!;
  if (record.type?.toUpperCase() === 'TXT') {
    const publicKey = /(?:^|;)\s*p=([^;]*)/.exec(value)?.[1]?.replace(/\s+/g, '');
    return publicKey ? { selector, publicKey } : { selector };
  }
  return { selector, cname: value };
}

/** The `include:` domains of the SPF record ACS asks for; the documented one when it names none. */
function spfOf(record: DnsRecord | undefined): ExpectedSpf {
  const includes = [...(record?.value ?? '').matchAll(/(?:^|\s)[+]?include:(\S+)/gi)].map((m) => m[1]!);
  return { includes: includes.length > 0 ? includes : [DOCUMENTED_SPF_INCLUDE] };
}

async function managementClient(entry: AzureConfig, service: EmailService, options: AzureDeliverabilityOptions) {
  const { CommunicationServiceManagementClient } = await import('@azure/arm-communication');
  const credential = options.credential ?? (await credentialFor(entry, service, options));
  const endpoint = service.armEndpoint?.replace(/\/+$/, '');
  return new CommunicationServiceManagementClient(credential, service.subscriptionId, {
    ...(endpoint ? { endpoint, $host: endpoint } : {}),
    ...(options.tlsOptions ? { tlsOptions: options.tlsOptions } : {}),
    // One read, bounded by the doctor's timeout: a throttled or failing ARM falls back to the documented pattern.
    retryOptions: { maxRetries: 0 },
  });
}

/**
 * The entry's Entra application, else the default chain (environment, workload identity, managed identity, Azure
 * CLI...). A custom authority host is trusted as given (no instance discovery against the public cloud's).
 */
async function credentialFor(
  entry: AzureConfig,
  service: EmailService,
  options: AzureDeliverabilityOptions,
): Promise<TokenCredential> {
  const identity = await import('@azure/identity');
  const common = {
    ...(service.authorityHost ? { authorityHost: service.authorityHost } : {}),
    ...(options.tlsOptions ? { tlsOptions: options.tlsOptions } : {}),
  };
  if (!entry.entra) return new identity.DefaultAzureCredential(common);
  const { tenantId, clientId, clientSecret } = entry.entra;
  const secret = resolveSecret(clientSecret, 'entra.clientSecret', options.env ?? process.env);
  return new identity.ClientSecretCredential(tenantId, clientId, secret, {
    ...common,
    ...(service.authorityHost ? { disableInstanceDiscovery: true } : {}),
  });
}

/** One ARM call (its token included), ended after `context.timeoutMs`. */
async function bounded<T>(context: DeliverabilityContext, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const signal = AbortSignal.timeout(context.timeoutMs);
  return untilAborted(call(signal), signal);
}

function isNotFound(error: unknown): boolean {
  const { statusCode, code } = error as { statusCode?: number; code?: string };
  return statusCode === 404 && (code === undefined || code === 'ResourceNotFound' || code === 'NotFound');
}

/** Why the read failed, in one line: the service's code and message, never a secret. */
function describe(error: unknown, context: DeliverabilityContext): string {
  const { name, code, statusCode, message } = error as {
    name?: string;
    code?: string;
    statusCode?: number;
    message?: string;
  };
  if (name === 'AbortError' || name === 'TimeoutError') return `no answer within ${context.timeoutMs} ms`;
  let text = (message ?? String(error)).split(/\r?\n/)[0]!.trim();
  if (text.length > 300) text = `${text.slice(0, 297)}...`;
  const prefix = code && !text.startsWith(code) ? `${code}: ` : '';
  const status = statusCode ? ` (HTTP ${statusCode})` : '';
  const hint = statusCode === 403 ? '; the credential needs Reader on the Email Communication Service' : '';
  return redactSecrets(`${prefix}${text}${status}${hint}`);
}
