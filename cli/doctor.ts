import type { MailrouteConfig } from '../core/config/config.ts';
import type { DoctorReport } from '../core/deliverability/doctor.ts';

type Out = (line: string) => void;

export interface DoctorValues {
  config?: string;
  domain?: string;
  route?: string;
  resolver?: string;
  json?: boolean;
  'no-api'?: boolean;
}

/** Runs the deliverability checks of a configuration (`mailroute doctor`, `config check --dns`). */
export async function diagnose(
  config: MailrouteConfig,
  values: Pick<DoctorValues, 'domain' | 'route' | 'resolver' | 'no-api'>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<DoctorReport> {
  const [{ runDoctor }, { createResolver, parseDnsServers }, { builtInProviders }] = await Promise.all([
    import('../core/deliverability/doctor.ts'),
    import('../core/deliverability/resolver.ts'),
    import('../providers/index.ts'),
  ]);
  const servers = values.resolver
    ? parseDnsServers(values.resolver, '--resolver')
    : parseDnsServers(env.MAILROUTE_DNS_SERVERS);
  return runDoctor(config, {
    registry: builtInProviders,
    resolve: createResolver(servers),
    ...(values.domain ? { domain: values.domain } : {}),
    ...(values.route ? { route: values.route } : {}),
    useApi: !values['no-api'],
    env,
  });
}

/**
 * `mailroute doctor`: for every sender domain and every provider each route can reach, whether its mail would
 * pass DMARC, and the records to publish. Exits 1 when one would fail.
 */
export async function doctorCommand(values: DoctorValues, out: Out): Promise<number> {
  const { loadConfig } = await import('../index.ts');
  const { config, source } = loadConfig({ file: values.config });
  const report = await diagnose(config, values);
  if (values.json) out(JSON.stringify({ source, ...report }, null, 2));
  else out((await import('../core/deliverability/report.ts')).formatDoctorReport(report));
  return report.ok ? 0 : 1;
}
