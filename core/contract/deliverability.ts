/**
 * What a provider needs in DNS before it can send for a domain with an aligned DMARC pass, as data: the doctor
 * (`core/deliverability/`) checks these against the DNS, and never names a provider itself. A provider's descriptor
 * gives its `deliverability.expect()`: the documented patterns, refined by the provider's own API (SES
 * GetEmailIdentity, OCI email domains, ACS domain resources) when the entry's credentials allow.
 */

/** A DKIM key the provider signs with for the domain: `<selector>._domainkey.<domain>`. */
export interface ExpectedDkimKey {
  selector: string;
  /** A CNAME the domain must publish at `<selector>._domainkey.<domain>`, pointing at the provider's key. */
  cname?: string;
  /** The public key (base64 `p=` value) the TXT record must carry, when known (an SMTP entry's own key). */
  publicKey?: string;
}

/** Where the provider's mail gets its envelope (MAIL FROM / return-path) domain, which SPF checks. */
export interface ExpectedEnvelope {
  /**
   * The envelope domain: the sender's own domain (Gmail, ACS), a custom MAIL FROM / return-path subdomain set up on
   * the provider (SES, OCI), or the provider's own domain (not aligned with `From`).
   */
  domain: string;
  /** The MX records a custom MAIL FROM domain must publish (SES: `feedback-smtp.<region>.amazonses.com`). */
  mx?: string[];
}

/** How the provider can be authorized in SPF: any one of these `include:` domains. */
export interface ExpectedSpf {
  includes: string[];
}

/** One provider entry's setup for one sender domain. */
export interface DomainSetup {
  /** `api`: read from the provider's API; `config`: from the entry (selectors, keys); `documented`: the pattern. */
  source: 'api' | 'config' | 'documented';
  /** A sentence for the report: what was read, or why the documented pattern is used. */
  note?: string;
  /** Whether the provider has the domain set up at all (its API knows it, verified); undefined when unknown. */
  verified?: boolean;
  /**
   * The DKIM keys the provider signs with `d=<domain>`. Empty when it does not sign for the domain (not set up);
   * undefined when they cannot be known without the provider's API (SES's tokens).
   */
  dkim?: ExpectedDkimKey[];
  /**
   * The `d=` domain the keys sign with and live under, when not the sender domain itself (an SES identity of a parent
   * domain signs its subdomains' mail with the parent's keys; still aligned in relaxed mode).
   */
  signingDomain?: string;
  /** Status of DKIM on the provider's side when its API says (e.g. SES `SUCCESS`, `PENDING`, `FAILED`). */
  dkimStatus?: string;
  envelope: ExpectedEnvelope;
  spf: ExpectedSpf;
  /** Records to create on the provider's side first (an identity, an email domain), as sentences. */
  steps?: string[];
}

/** What the doctor passes to `expect()`. */
export interface DeliverabilityContext {
  /** Ask the provider's API (credentials and network allowing); false: the documented pattern only. */
  useApi: boolean;
  /** Bound on one API call. */
  timeoutMs: number;
}

/** The part of a provider descriptor the doctor uses. */
export interface DeliverabilityDescriptor<Entry> {
  expect(entry: Entry, domain: string, context: DeliverabilityContext): Promise<DomainSetup>;
}
