import type { MailrouteConfig } from '../config/schema.ts';
import type { ProviderRegistry } from '../contract/provider-registry.ts';
import type { Logger } from '../util/log.ts';

let started: Promise<string | undefined> | undefined;

/**
 * At a function's cold start: the doctor's checks run once per instance in the background, and one warning line is
 * logged when a route can reach a provider whose mail would fail DMARC for a domain it sends for. Never awaited by
 * a send, never thrown; `MAILROUTE_DNS_CHECK=off` turns it off. Returns the check's promise (the line logged, if
 * any), for tests; the same promise for every later call of the instance.
 */
export function coldStartDnsCheck(
  config: MailrouteConfig,
  registry: ProviderRegistry,
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  if (env.MAILROUTE_DNS_CHECK === 'off') return Promise.resolve(undefined);
  started ??= check(config, registry, logger, env).catch((error: unknown) => {
    logger.info('deliverability check skipped', { reason: (error as Error)?.message ?? String(error) });
    return undefined;
  });
  return started;
}

/** Forgets the instance's check (tests). */
export function resetColdStartDnsCheck(): void {
  started = undefined;
}

async function check(
  config: MailrouteConfig,
  registry: ProviderRegistry,
  logger: Logger,
  env: NodeJS.ProcessEnv,
): Promise<string | undefined> {
  if (config.providers.every((p) => !registry.get(p.provider)?.deliverability)) return undefined;
  const [{ runDoctor }, { createResolver, parseDnsServers }] = await Promise.all([
    import('./doctor.ts'),
    import('./resolver.ts'),
  ]);
  const report = await runDoctor(config, {
    registry,
    resolve: createResolver(parseDnsServers(env.MAILROUTE_DNS_SERVERS), 2000),
    apiTimeoutMs: 3000,
    env,
  });
  const failing = report.domains.flatMap((d) =>
    d.providers
      .filter((p) => p.dmarcPass === false)
      .map((p) => ({ route: d.route, domain: d.domain, entry: p.entry, role: p.role, policy: d.policy })),
  );
  if (failing.length === 0) return undefined;
  const line = `deliverability: ${failing
    .map((f) => `${f.entry} (${f.role} of route ${f.route}) would fail DMARC for ${f.domain} (p=${f.policy})`)
    .join('; ')}; run \`mailroute doctor\` for the records to publish`;
  logger.warn(line, { failing });
  return line;
}
