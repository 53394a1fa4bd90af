import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { ProviderRegistry } from '../contract/provider-registry.ts';
import { ConfigurationError } from '../errors.ts';
import { DEFAULT_CONFIG, type MailrouteConfig, validateConfig } from './schema.ts';

// Reading a configuration: from a file, the environment, JSON or YAML text. The schema, validation and secrets are in
// schema.ts, re-exported here.
export * from './schema.ts';

const CONFIG_FILES = ['mailroute.config.yaml', 'mailroute.config.yml', 'mailroute.config.json'];

export interface ConfigSource {
  config: MailrouteConfig;
  /** Where it came from: a file path, an environment variable, or "default". */
  source: string;
}

/**
 * Finds and validates the configuration: `--config FILE`, else `MAILROUTE_CONFIG` (JSON or YAML text), else
 * `MAILROUTE_CONFIG_FILE`, else `mailroute.config.{yaml,yml,json}` in the working directory, else the embedded
 * default (the local capture inbox).
 */
export function loadConfig(
  options: { file?: string; env?: NodeJS.ProcessEnv; cwd?: string; providers?: ProviderRegistry } = {},
): ConfigSource {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  let text: string | undefined;
  let source = 'default';
  const file = options.file ?? env.MAILROUTE_CONFIG_FILE;
  if (options.file === undefined && env.MAILROUTE_CONFIG) {
    text = env.MAILROUTE_CONFIG;
    source = 'MAILROUTE_CONFIG';
  } else if (file) {
    const path = resolve(cwd, file);
    if (!existsSync(path)) throw new ConfigurationError(`configuration file ${path} does not exist`);
    text = readFileSync(path, 'utf8');
    source = path;
  } else {
    const found = CONFIG_FILES.map((f) => resolve(cwd, f)).find((p) => existsSync(p));
    if (found) {
      text = readFileSync(found, 'utf8');
      source = found;
    }
  }
  const config = text === undefined ? structuredClone(DEFAULT_CONFIG) : parseConfig(text, source, options.providers);
  if (env.MAILROUTE_OUTBOX) config.outboxDir = env.MAILROUTE_OUTBOX;
  return { config, source };
}

/** Parses configuration text (JSON or YAML) and validates it, naming every wrong field. */
export function parseConfig(text: string, source = 'configuration', providers?: ProviderRegistry): MailrouteConfig {
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (error) {
    throw new ConfigurationError(`${source} is not valid YAML or JSON: ${(error as Error).message}`);
  }
  return validateConfig(data, source, providers);
}
