import type { MailrouteConfig } from '../config/schema.ts';
import { ConfigurationError } from '../errors.ts';
import type { Mailer } from '../mailer.ts';
import type { Logger } from '../util/log.ts';

type Env = NodeJS.ProcessEnv;

/**
 * How one cloud's functions build their mailer. Every cloud does the same four steps in this order; what differs
 * is injected: where the configuration may live besides `MAILROUTE_CONFIG`, the deployment's state store, and the
 * cloud's secret loader (SSM and Secrets Manager, Key Vault references, mounted secrets, OCI Vault).
 */
export interface MailerRecipe {
  /** The routing configuration: `routingConfig(env)`, with the cloud's own store of it when it has one. */
  config(env: Env): MailrouteConfig | Promise<MailrouteConfig>;
  /** The deployment's own changes to it: the state store its infrastructure provides. */
  adjust?(config: MailrouteConfig, env: Env): MailrouteConfig;
  /**
   * The cloud's secret loader: reads (once) every secret reference this cloud can read and hands it to
   * `provideSecret` (`loadCloudSecrets`), refuses or reports the ones it cannot. Throws a `ConfigurationError`
   * naming each field.
   */
  secrets?(config: MailrouteConfig, env: Env): void | Promise<void>;
  /** The package's `createMailer` (index.ts), injected so that nothing here loads a provider or a store. */
  create(config: MailrouteConfig, options: { logger: Logger }): Promise<Mailer>;
  /** The Mailer's own logger: `FunctionLog.mailer`. */
  logger: Logger;
  /**
   * Once the mailer is built, in the background: the deliverability check (`coldStartDnsCheck` of index.ts), which
   * logs one warning when a route can reach a provider whose mail would fail DMARC. Never awaited.
   */
  dnsCheck?(config: MailrouteConfig, logger: Logger, env: Env): unknown;
}

/**
 * The instance's mailer, built at its first invocation and kept for its life (a container, a worker, an
 * instance); a failed build is not kept, so the next invocation tries again. `env` is read by that build only.
 *
 * @example
 * export const mailer = mailerOnce({ config: (env) => routingConfig(env), create: createMailer, logger: log.mailer });
 * const m = await mailer();
 */
export function mailerOnce(recipe: MailerRecipe): (env?: Env) => Promise<Mailer> {
  let mailer: Promise<Mailer> | undefined;
  return (env = process.env) => {
    mailer ??= build(recipe, env).catch((error: unknown) => {
      mailer = undefined;
      throw error;
    });
    return mailer;
  };
}

async function build(recipe: MailerRecipe, env: Env): Promise<Mailer> {
  let config = await recipe.config(env);
  if (recipe.adjust) config = recipe.adjust(config, env);
  await recipe.secrets?.(config, env);
  const mailer = await recipe.create(config, { logger: recipe.logger });
  recipe.dnsCheck?.(config, recipe.logger, env);
  return mailer;
}

/** Where a cloud keeps the configuration when `MAILROUTE_CONFIG` is not set: an SSM parameter, a Vault secret. */
export interface ConfigStore {
  /** The setting that names it (`MAILROUTE_CONFIG_SSM`, `MAILROUTE_CONFIG_OCI_VAULT`). */
  setting: string;
  /** What it is, for messages: `SSM parameter /mailroute/config`. */
  describe(name: string): string;
  /** Its content: JSON or YAML text, or an object already parsed. */
  read(name: string, env: Env): Promise<unknown>;
}

/**
 * The routing configuration of a function: `MAILROUTE_CONFIG` (JSON or YAML text, secret references only), else
 * what the setting of `store` names. Every wrong field is named; so is the setting that is missing, or whose
 * store could not be read.
 */
export async function routingConfig(env: Env, store?: ConfigStore): Promise<MailrouteConfig> {
  if (env.MAILROUTE_CONFIG) return configFromText(env.MAILROUTE_CONFIG, 'MAILROUTE_CONFIG');
  const name = store ? env[store.setting] : undefined;
  if (store && name) {
    const source = store.describe(name);
    const value = await store.read(name, env).catch((error: unknown) => {
      const message = `${source} could not be read (${(error as Error)?.message ?? String(error)})`;
      throw new ConfigurationError(message, { cause: error, issues: [{ path: store.setting, message }] });
    });
    if (typeof value === 'string') return configFromText(value, source);
    return (await import('../config/schema.ts')).validateConfig(value, source);
  }
  const other = store ? ` or ${store.setting}` : '';
  const message = `is not set: give the routing configuration as JSON or YAML${store ? `, or set ${store.setting}` : ''}`;
  throw new ConfigurationError(`no configuration: set MAILROUTE_CONFIG (JSON or YAML)${other}`, {
    issues: [{ path: 'MAILROUTE_CONFIG', message }],
  });
}

/**
 * Configuration text as `parseConfig` reads it (YAML, of which JSON is a part), without loading a YAML parser for
 * JSON: text that `JSON.parse` takes, and in which no object repeats a key (which YAML refuses), is the same data
 * either way. Any other text goes to `parseConfig`, for its value or its error.
 */
async function configFromText(text: string, source: string): Promise<MailrouteConfig> {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return (await import('../config/config.ts')).parseConfig(text, source);
  }
  if (repeatsKey(text)) return (await import('../config/config.ts')).parseConfig(text, source);
  return (await import('../config/schema.ts')).validateConfig(data, source);
}

/** Whether valid JSON text has an object with a key twice (escapes decoded: `"a"` and `"\u0061"` are one key). */
function repeatsKey(json: string): boolean {
  const objects: (Set<string> | undefined)[] = [];
  let keyNext = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      let end = i + 1;
      while (json[end] !== '"') end += json[end] === '\\' ? 2 : 1;
      if (keyNext) {
        const keys = objects.at(-1)!;
        const key = JSON.parse(json.slice(i, end + 1)) as string;
        if (keys.has(key)) return true;
        keys.add(key);
        keyNext = false;
      }
      i = end;
    } else if (c === '{') {
      objects.push(new Set());
      keyNext = true;
    } else if (c === '[') {
      objects.push(undefined);
    } else if (c === '}' || c === ']') {
      objects.pop();
      keyNext = false;
    } else if (c === ',') {
      keyNext = objects.at(-1) !== undefined;
    }
  }
  return false;
}
