import { randomBytes } from 'node:crypto';

/**
 * An email identity as `GetEmailIdentity` answers it (`GetEmailIdentityResponse` of the SES v2 model, botocore
 * sesv2 2019-09-27 service-2.json), in its JSON wire form: timestamps are epoch seconds, as rest-json sends them.
 */
export interface SesIdentity {
  IdentityType?: 'EMAIL_ADDRESS' | 'DOMAIN' | 'MANAGED_DOMAIN';
  FeedbackForwardingStatus?: boolean;
  VerifiedForSendingStatus?: boolean;
  DkimAttributes?: SesDkimAttributes;
  MailFromAttributes?: SesMailFromAttributes;
  Policies?: Record<string, string>;
  Tags?: { Key: string; Value: string }[];
  ConfigurationSetName?: string;
  VerificationStatus?: SesVerificationStatus;
  VerificationInfo?: {
    LastCheckedTimestamp?: number;
    LastSuccessTimestamp?: number;
    ErrorType?: string;
    SOARecord?: { PrimaryNameServer?: string; AdminEmail?: string; SerialNumber?: number };
  };
}

export type SesVerificationStatus = 'PENDING' | 'SUCCESS' | 'FAILED' | 'TEMPORARY_FAILURE' | 'NOT_STARTED';

export interface SesDkimAttributes {
  SigningEnabled?: boolean;
  Status?: SesVerificationStatus;
  /** Easy DKIM: the three tokens of the CNAMEs; BYODKIM (`EXTERNAL`): the selector. */
  Tokens?: string[];
  /** The zone the Easy DKIM CNAMEs point into (`<token>.<SigningHostedZone>`). */
  SigningHostedZone?: string;
  /** `AWS_SES` (Easy DKIM), `EXTERNAL` (BYODKIM), or `AWS_SES_<REGION>` (Deterministic Easy DKIM from a parent). */
  SigningAttributesOrigin?: string;
  NextSigningKeyLength?: 'RSA_1024_BIT' | 'RSA_2048_BIT';
  CurrentSigningKeyLength?: 'RSA_1024_BIT' | 'RSA_2048_BIT';
  LastKeyGenerationTimestamp?: number;
}

export interface SesMailFromAttributes {
  MailFromDomain?: string;
  MailFromDomainStatus?: 'PENDING' | 'SUCCESS' | 'FAILED' | 'TEMPORARY_FAILURE';
  BehaviorOnMxFailure: 'USE_DEFAULT_VALUE' | 'REJECT_MESSAGE';
}

/** An Easy DKIM token: 32 lowercase letters and digits, as SES generates them. */
export function dkimToken(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(32), (byte) => alphabet[byte % alphabet.length]).join('');
}

/**
 * A typical verified domain identity with Easy DKIM (three random tokens, 2048-bit keys, DKIM `SUCCESS`) and,
 * when `mailFromDomain` is given, a custom MAIL FROM domain (status `SUCCESS` unless `mailFromStatus` says other).
 * Without one, `MailFromAttributes` carries only `BehaviorOnMxFailure` (what SES answers for an identity that has
 * no custom MAIL FROM: typical, not verified against the live service). `status` other than `SUCCESS` makes the
 * identity unverified, as SES verifies a domain identity by its DKIM records.
 * @example
 * ses.setIdentity('example.com', easyDkimIdentity('example.com', { mailFromDomain: 'bounce.example.com' }));
 */
export function easyDkimIdentity(
  _domain: string,
  options: {
    tokens?: string[];
    status?: SesVerificationStatus;
    mailFromDomain?: string;
    mailFromStatus?: SesMailFromAttributes['MailFromDomainStatus'];
    signingEnabled?: boolean;
    signingHostedZone?: string;
  } = {},
): SesIdentity {
  const status = options.status ?? 'SUCCESS';
  const now = Math.floor(Date.now() / 1000);
  return {
    IdentityType: 'DOMAIN',
    FeedbackForwardingStatus: true,
    VerifiedForSendingStatus: status === 'SUCCESS',
    DkimAttributes: {
      SigningEnabled: options.signingEnabled ?? true,
      Status: status,
      Tokens: options.tokens ?? [dkimToken(), dkimToken(), dkimToken()],
      ...(options.signingHostedZone ? { SigningHostedZone: options.signingHostedZone } : {}),
      SigningAttributesOrigin: 'AWS_SES',
      NextSigningKeyLength: 'RSA_2048_BIT',
      CurrentSigningKeyLength: 'RSA_2048_BIT',
      LastKeyGenerationTimestamp: now,
    },
    MailFromAttributes: options.mailFromDomain
      ? {
          MailFromDomain: options.mailFromDomain,
          MailFromDomainStatus: options.mailFromStatus ?? 'SUCCESS',
          BehaviorOnMxFailure: 'USE_DEFAULT_VALUE',
        }
      : { BehaviorOnMxFailure: 'USE_DEFAULT_VALUE' },
    Policies: {},
    Tags: [],
    VerificationStatus: status,
    VerificationInfo: { LastCheckedTimestamp: now, ...(status === 'SUCCESS' ? { LastSuccessTimestamp: now } : {}) },
  };
}
