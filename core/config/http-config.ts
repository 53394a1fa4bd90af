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

/**
 * The default body limit: SES takes messages of 40 MB (41,943,040 bytes) encoded, the most of any cloud provider
 * (ACS 10 MB, Gmail 25 or 35 MB, OCI 2 MB). The JSON of such a message is no larger than its MIME (base64
 * attachments are the same text, without the line breaks), less what JSON escapes; 48 MiB leaves a fifth for that.
 * `serve`'s local capture inbox takes 50 MiB, but it stands in for the clouds.
 */
export const DEFAULT_MAX_BODY_BYTES = 48 * 1024 * 1024;

/**
 * The default in-flight budget: one largest body at a time, with 16 MiB beside it for small requests. While a body
 * is sent it is held several times over (bench/memory.ts: its text, the parsed JSON, the decoded attachments, the
 * composed MIME: about 6 times at the peak, 9 with the local capture inbox, which parses the message again), so
 * the requests in flight take up to 6 to 9 times the budget above what `serve` holds at rest (about 150 MB). A
 * smaller box lowers both limits: 24 MiB each keeps `serve` near 400 MB.
 */
export const DEFAULT_MAX_INFLIGHT_BYTES = 64 * 1024 * 1024;

/** Below this a limit would refuse ordinary messages: a mistake rather than a choice (a unit off by 1024). */
const MIN_BODY_BYTES = 64 * 1024;

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
      maxBodyBytes: z
        .number()
        .int()
        .min(MIN_BODY_BYTES)
        .optional()
        .describe(
          `The largest request body taken, in bytes (default ${DEFAULT_MAX_BODY_BYTES}, 48 MiB: the largest message a provider takes, SES's 40 MB, and room for JSON's escapes). A larger Content-Length is answered 413 before any of the body is read; a body without one is cut at the limit (also MAILROUTE_HTTP_MAX_BODY_BYTES).`,
        ),
      maxInflightBytes: z
        .number()
        .int()
        .min(0)
        .optional()
        .describe(
          `The bytes of request bodies the process holds at once (default ${DEFAULT_MAX_INFLIGHT_BYTES}, 64 MiB, or maxBodyBytes when larger; 0: no bound). A request that would pass it is answered 503 with Retry-After before its body is read. A body is held about 6 to 9 times over while it is sent (its text, the parsed message, the decoded attachments, the MIME), so this bounds the memory of the requests in flight: 24 MiB here and in maxBodyBytes keeps serve near 400 MB (also MAILROUTE_HTTP_MAX_INFLIGHT_BYTES).`,
        ),
    })
    .strict()
    .optional()
    .describe(
      'The HTTP API: which hosts `mailroute serve` answers to, which origins may call it from a browser, how large a body and how many bytes in flight it takes. By default only loopback hosts, no other origin, 48 MiB bodies and 64 MiB in flight.',
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

/** How large a body the HTTP API takes and how many bytes of bodies it holds at once, with where each was set. */
export interface HttpLimits {
  maxBodyBytes: number;
  /** Infinity when switched off (0). */
  maxInflightBytes: number;
  /** The setting each came from, for errors: `http.maxBodyBytes`, `MAILROUTE_HTTP_MAX_BODY_BYTES`... */
  bodySetting: string;
  inflightSetting: string;
}

type LimitsConfig = { http?: { maxBodyBytes?: number | undefined; maxInflightBytes?: number | undefined } | undefined };

/**
 * The body limit and the in-flight budget: `MAILROUTE_HTTP_MAX_BODY_BYTES` / `MAILROUTE_HTTP_MAX_INFLIGHT_BYTES`
 * over the configuration's `http.maxBodyBytes` / `http.maxInflightBytes`, over the defaults. A budget smaller than
 * the body limit would refuse the largest body for ever: an error naming both settings, as is a wrong number.
 */
export function httpLimits(config: LimitsConfig, env: NodeJS.ProcessEnv = process.env): HttpLimits {
  const issues: FieldIssue[] = [];
  const fromEnv = (name: string, min: number): number | undefined => {
    const raw = env[name]?.trim();
    if (!raw) return undefined;
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min) {
      issues.push({ path: name, message: `"${raw}" must be a whole number of bytes, at least ${min}` });
      return undefined;
    }
    return value;
  };
  const bodyEnv = fromEnv('MAILROUTE_HTTP_MAX_BODY_BYTES', MIN_BODY_BYTES);
  const inflightEnv = fromEnv('MAILROUTE_HTTP_MAX_INFLIGHT_BYTES', 0);
  const bodySetting =
    bodyEnv !== undefined
      ? 'MAILROUTE_HTTP_MAX_BODY_BYTES'
      : config.http?.maxBodyBytes !== undefined
        ? 'http.maxBodyBytes'
        : 'the default body limit';
  const maxBodyBytes = bodyEnv ?? config.http?.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const givenInflight = inflightEnv ?? config.http?.maxInflightBytes;
  const inflightSetting =
    inflightEnv !== undefined
      ? 'MAILROUTE_HTTP_MAX_INFLIGHT_BYTES'
      : givenInflight !== undefined
        ? 'http.maxInflightBytes'
        : 'the default in-flight budget';
  if (givenInflight !== undefined && givenInflight !== 0 && givenInflight < maxBodyBytes) {
    issues.push({
      path: inflightSetting,
      message: `is ${givenInflight} bytes, less than the body limit of ${maxBodyBytes} bytes (${bodySetting}): a body that size could never be taken; raise it, lower the body limit, or set 0 for no budget`,
    });
  }
  if (issues.length) {
    throw new ConfigurationError(issues.map((i) => `${i.path}: ${i.message}`).join('; '), { issues });
  }
  const maxInflightBytes =
    givenInflight === 0 ? Infinity : (givenInflight ?? Math.max(DEFAULT_MAX_INFLIGHT_BYTES, maxBodyBytes));
  return { maxBodyBytes, maxInflightBytes, bodySetting, inflightSetting };
}
