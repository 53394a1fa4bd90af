import type { z } from 'zod';
import { type FieldIssue, InvalidMessageError } from '../errors.ts';
import type { NormalizedMessage } from '../message/message.ts';
import { formatPath } from '../message/paths.ts';
import type { Mode } from './adapter.ts';

/** The sentence for an option its provider does not have. */
export function unsupportedOption(provider: string, option: string): string {
  return `${provider} does not support the option "${option}"`;
}

/**
 * A message's `providerOptions.<provider>`, read through the provider's schema. A mailer given the registry has
 * checked them before routing; reading them through the schema again means an adapter never acts on an unchecked
 * value (a mailer built without the registry, an adapter called directly), and gets them typed.
 *
 * @example const { priority } = optionsFor(prepared.message, 'pigeon', 'api', pigeonOptions);
 */
export function optionsFor<T>(message: NormalizedMessage, provider: string, mode: Mode, schema: z.ZodType<T>): T {
  const parsed = schema.safeParse(message.providerOptions[provider] ?? {});
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.flatMap((issue): FieldIssue[] => {
    const path = ['providerOptions', provider, ...issue.path];
    if (issue.code === 'unrecognized_keys' && issue.path.length === 0) {
      return issue.keys.map((key) => ({ path: formatPath([...path, key]), message: unsupportedOption(provider, key) }));
    }
    return [{ path: formatPath(path), message: issue.message }];
  });
  throw new InvalidMessageError(issues, { provider, mode });
}
