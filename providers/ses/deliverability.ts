import { GetEmailIdentityCommand, type GetEmailIdentityCommandOutput, type SESv2Client } from '@aws-sdk/client-sesv2';
import { redactSecrets } from '../../core/config/secrets.ts';
import type {
  DeliverabilityContext,
  DomainSetup,
  ExpectedDkimKey,
  ExpectedEnvelope,
} from '../../core/contract/deliverability.ts';
import { untilAborted } from '../../core/util/deadline.ts';
import { createSesClient } from './api.ts';
import type { SesConfig } from './config.ts';

/** SES's own MAIL FROM domain, used when the identity has no custom one: SPF passes for it, not aligned. */
const SES_ENVELOPE = 'amazonses.com';
/** Where Easy DKIM CNAMEs point when the identity names no `SigningHostedZone`. */
const EASY_DKIM_ZONE = 'dkim.amazonses.com';
const SPF = { includes: ['amazonses.com'] };

/**
 * What Amazon SES needs in DNS to send for `domain` with an aligned DMARC pass: from SESv2 GetEmailIdentity when
 * `context.useApi` and the entry's credentials allow (the exact domain, else its parent domains down to two
 * labels, as a verified parent identity sends for its subdomains), else the documented pattern, with a note
 * saying why.
 */
export async function expectSetup(
  entry: SesConfig,
  domain: string,
  context: DeliverabilityContext,
): Promise<DomainSetup> {
  const name = domain.toLowerCase().replace(/\.$/, '');
  const region = entry.region;
  if (!context.useApi) return documented(name, region, 'the SES API was not asked');
  let client: SESv2Client;
  try {
    client = createSesClient(entry, process.env);
  } catch (error) {
    return documented(name, region, `the entry's credentials could not be resolved (${messageOf(error)})`);
  }
  const tried: string[] = [];
  try {
    for (const candidate of candidates(name)) {
      tried.push(candidate);
      let output: GetEmailIdentityCommandOutput;
      try {
        output = await getEmailIdentity(client, candidate, context.timeoutMs);
      } catch (error) {
        if ((error as { name?: unknown } | null)?.name === 'NotFoundException') continue;
        return documented(name, region, describeFailure(error, entry, context.timeoutMs));
      }
      return fromIdentity(output, name, candidate, region);
    }
  } finally {
    client.destroy();
  }
  const also = tried.length > 1 ? ` nor any of its parent domains (${tried.slice(1).join(', ')})` : '';
  return {
    source: 'api',
    note: `SES (${region}) has no identity ${name}${also}`,
    verified: false,
    dkim: [],
    envelope: { domain: SES_ENVELOPE },
    spf: SPF,
    steps: [createStep(name, region)],
  };
}

/** The domain, then each parent down to two labels (`a.b.example.com`, `b.example.com`, `example.com`). */
function candidates(domain: string): string[] {
  const labels = domain.split('.');
  const out = [domain];
  for (let i = 1; labels.length - i >= 2; i++) out.push(labels.slice(i).join('.'));
  return out;
}

/** One GetEmailIdentity, bounded by `timeoutMs` including the credential lookup the SDK makes first. */
function getEmailIdentity(client: SESv2Client, identity: string, timeoutMs: number) {
  const abortSignal = AbortSignal.timeout(timeoutMs);
  return untilAborted(
    client.send(new GetEmailIdentityCommand({ EmailIdentity: identity }), { abortSignal }),
    abortSignal,
  );
}

function fromIdentity(
  output: GetEmailIdentityCommandOutput,
  domain: string,
  identity: string,
  region: string,
): DomainSetup {
  const notes: string[] = [`read from SES GetEmailIdentity (${region}), identity ${identity}`];
  if (identity !== domain) {
    notes.push(
      `a parent domain of ${domain}: SES sends for its subdomains and DKIM signs d=${identity}, which aligns with ${domain} in relaxed mode only; its DKIM records are under ${identity}`,
    );
  }
  const steps: string[] = [];
  const verified = output.VerifiedForSendingStatus === true;
  if (!verified) notes.push(`not verified for sending (verification ${output.VerificationStatus ?? 'status unknown'})`);

  const attributes = output.DkimAttributes;
  const tokens = attributes?.Tokens ?? [];
  const origin = attributes?.SigningAttributesOrigin;
  let dkim: ExpectedDkimKey[];
  if (attributes?.SigningEnabled === false) {
    dkim = [];
    steps.push(`enable DKIM signing for the identity ${identity} in SES (${region})`);
  } else if (origin === 'EXTERNAL') {
    // BYODKIM: Tokens holds the selector; the public key is the customer's own, which the API does not return.
    dkim = tokens.map((selector) => ({ selector }));
    notes.push('DKIM is Bring Your Own DKIM: the TXT record carries your own public key');
  } else {
    // Easy DKIM (AWS_SES), or Deterministic Easy DKIM replicated from a parent region (AWS_SES_<REGION>).
    const zone = attributes?.SigningHostedZone || EASY_DKIM_ZONE;
    dkim = tokens.map((token) => ({ selector: token, cname: `${token}.${zone}` }));
    if (origin && origin !== 'AWS_SES') notes.push(`DKIM replicated from a parent identity (${origin})`);
  }

  const mailFrom = output.MailFromAttributes;
  let envelope: ExpectedEnvelope = { domain: SES_ENVELOPE };
  if (mailFrom?.MailFromDomain) {
    envelope = { domain: mailFrom.MailFromDomain, mx: [`feedback-smtp.${region}.amazonses.com`] };
    const status = mailFrom.MailFromDomainStatus;
    if (status !== 'SUCCESS') {
      const fallback =
        mailFrom.BehaviorOnMxFailure === 'REJECT_MESSAGE'
          ? 'SES refuses to send until it succeeds'
          : `SES uses ${SES_ENVELOPE} until it succeeds`;
      notes.push(`custom MAIL FROM ${mailFrom.MailFromDomain} is ${status ?? 'of unknown status'}: ${fallback}`);
    }
  } else {
    notes.push(`no custom MAIL FROM: the envelope is ${SES_ENVELOPE}, which does not align with ${domain}`);
  }

  return {
    source: 'api',
    note: notes.join('; '),
    verified,
    dkim,
    ...(identity !== domain ? { signingDomain: identity } : {}),
    ...(attributes?.Status ? { dkimStatus: attributes.Status } : {}),
    envelope,
    spf: SPF,
    ...(steps.length ? { steps } : {}),
  };
}

function documented(domain: string, region: string, why: string): DomainSetup {
  return {
    source: 'documented',
    note: redactSecrets(`${why}: the documented pattern, without the DKIM tokens only the API knows`),
    envelope: { domain: SES_ENVELOPE },
    spf: SPF,
    steps: [createStep(domain, region)],
  };
}

const createStep = (domain: string, region: string) =>
  `create the identity ${domain} in SES (${region}) and publish its three DKIM CNAMEs`;

/** Why GetEmailIdentity gave no answer to use, by the error's name, status or code only (never its text). */
function describeFailure(error: unknown, entry: SesConfig, timeoutMs: number): string {
  const e = (error ?? {}) as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  if (e.name === 'TimeoutError' || e.name === 'AbortError') {
    return `GetEmailIdentity got no answer within ${timeoutMs} ms`;
  }
  if (typeof status === 'number') return `GetEmailIdentity refused: ${e.name ?? 'error'} (HTTP ${status})`;
  if (e.name === 'CredentialsProviderError') {
    return 'no AWS credentials: the entry has none and the default provider chain found none';
  }
  const where = entry.endpoint ? new URL(entry.endpoint).host : `SES in ${entry.region}`;
  if (e.code) return `GetEmailIdentity could not reach ${where}: ${e.code}`;
  return `GetEmailIdentity failed: ${e.name ?? 'unknown error'}`;
}

/** A configuration error's own message: it names the field and the variable, never the value. */
function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
