import { z } from 'zod';
import { ConfigurationError, type FieldIssue } from '../errors.ts';

/** A host name or IP address as a `Host` header names it, optionally with a port: `mail.example.com`, `[::1]:8080`. */
const HOST =
  /^(?:\[[0-9a-f:.]+\]|(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*)(?::\d{1,5})?$/i;

/** Why a public host is wrong, or undefined. */
function hostProblem(host: string): string | undefined {
  if (!HOST.test(host)) {
    return 'must be a host name or IP address as in a Host header, optionally with a port (mail.example.com, 192.0.2.10:3025), without scheme or path';
  }
  return undefined;
}

/** Why a CORS origin is wrong, or undefined: it must be exactly an origin, as a browser sends it. */
function originProblem(origin: string): string | undefined {
  if (origin === '*' || origin.includes('*')) {
    return 'must name an origin: no wildcard (a page on any site could then make the API send)';
  }
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return 'must be an origin such as https://app.example.com';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an http or https origin';
  if (url.origin !== origin) {
    return `must be exactly an origin, as a browser sends it in Origin: ${url.origin} (no path, no trailing slash, lower case, no default port)`;
  }
  return undefined;
}

/** The HTTP API's browser rules (core/runtime/http-guard.ts): which hosts it answers to, which origins may call it. */
export const httpFields = {
  http: z
    .object({
      publicHosts: z
        .array(
          z.string().superRefine((host, ctx) => {
            const problem = hostProblem(host);
            if (problem) ctx.addIssue({ code: 'custom', message: problem });
          }),
        )
        .optional()
        .describe(
          'The host names `mailroute serve` answers to besides loopback ones (localhost, 127.0.0.1, [::1]): those it is reached by through a reverse proxy or on the network, e.g. mail.internal.example or 192.0.2.10:3025 (without a port: any port). Any other Host is answered 421, so that a DNS-rebinding page cannot reach it (also MAILROUTE_PUBLIC_HOSTS, comma-separated). The cloud functions leave the Host to their platform.',
        ),
      corsOrigins: z
        .array(
          z.string().superRefine((origin, ctx) => {
            const problem = originProblem(origin);
            if (problem) ctx.addIssue({ code: 'custom', message: problem });
          }),
        )
        .optional()
        .describe(
          "The web origins (https://app.example.com) whose pages may call the HTTP API from a browser: they get Access-Control-Allow-Origin and an answer to the OPTIONS preflight. A request with any other Origin than the server's own is refused 403. Default: none (also MAILROUTE_CORS_ORIGINS, comma-separated).",
        ),
    })
    .strict()
    .optional()
    .describe(
      'The HTTP API in a browser: which hosts `mailroute serve` answers to and which origins may call it. By default only loopback hosts and no other origin.',
    ),
};

/** What the HTTP guard is given from the configuration and the environment. */
export interface HttpSettings {
  publicHosts: string[];
  corsOrigins: string[];
}

/**
 * The configuration's `http` block merged with `MAILROUTE_PUBLIC_HOSTS` and `MAILROUTE_CORS_ORIGINS`
 * (comma-separated); a wrong value in either names the setting.
 */
export function httpSettings(
  config: { http?: { publicHosts?: string[] | undefined; corsOrigins?: string[] | undefined } | undefined },
  env: NodeJS.ProcessEnv = process.env,
): HttpSettings {
  const issues: FieldIssue[] = [];
  const fromEnv = (name: string, problem: (value: string) => string | undefined): string[] => {
    const values = (env[name] ?? '')
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean);
    for (const value of values) {
      const wrong = problem(value);
      if (wrong) issues.push({ path: name, message: `"${value}" ${wrong}` });
    }
    return values;
  };
  const publicHosts = fromEnv('MAILROUTE_PUBLIC_HOSTS', hostProblem);
  const corsOrigins = fromEnv('MAILROUTE_CORS_ORIGINS', originProblem);
  if (issues.length) {
    throw new ConfigurationError(issues.map((i) => `${i.path}: ${i.message}`).join('; '), { issues });
  }
  return {
    publicHosts: [...new Set([...(config.http?.publicHosts ?? []), ...publicHosts].map((h) => h.toLowerCase()))],
    corsOrigins: [...new Set([...(config.http?.corsOrigins ?? []), ...corsOrigins])],
  };
}
