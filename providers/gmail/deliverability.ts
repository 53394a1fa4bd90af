import type { DeliverabilityContext, DomainSetup } from '../../core/contract/deliverability.ts';
import type { GmailConfig } from './config.ts';

/**
 * What Google Workspace needs in DNS for a sender domain. Workspace has no API that tells a domain's DKIM key (the
 * Admin console generates it), so this is the documented pattern: SPF `include:_spf.google.com` on the sender's
 * own domain (Gmail's envelope sender is the sending user's address), and the key the Admin console generated, as a
 * TXT record at `<selector>._domainkey` (selector `google` unless `dkimSelector` says otherwise). Until it is
 * published and DKIM is turned on, Gmail signs with its own `gappssmtp.com` domain, which does not align.
 */
export async function expectSetup(
  entry: GmailConfig,
  domain: string,
  _context: DeliverabilityContext,
): Promise<DomainSetup> {
  const selector = entry.dkimSelector ?? 'google';
  return {
    source: entry.dkimSelector ? 'config' : 'documented',
    note: `Google Workspace publishes no API for DKIM keys: selector "${selector}"${entry.dkimSelector ? ' (dkimSelector)' : ' (the default; set dkimSelector if the Admin console used another)'}, key as generated in the Admin console`,
    dkim: [{ selector }],
    envelope: { domain },
    spf: { includes: ['_spf.google.com'] },
    steps: [
      `in the Admin console, Apps > Google Workspace > Gmail > Authenticate email: generate a key for ${domain} (selector "${selector}"), publish it, then Start authentication`,
    ],
  };
}
