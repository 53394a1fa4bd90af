import { ConfigurationError } from '../errors.ts';

/**
 * A positive integer setting from the environment (a Lambda variable, an Azure app setting), or the default;
 * a wrong value names the setting, so a typo fails at cold start instead of acting as the default.
 *
 * @example positiveIntSetting(process.env, 'MAILROUTE_DEADLINE_MARGIN_MS', 10_000)
 */
export function positiveIntSetting(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (Number.isInteger(value) && value > 0) return value;
  throw new ConfigurationError(`${name} must be a positive integer, not "${text}"`, {
    issues: [{ path: name, message: 'must be a positive integer' }],
  });
}
