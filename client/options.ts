import { ConfigurationError, type FieldIssue } from '../core/errors.ts';

/** Returns what is wrong with a value, or undefined when it is fine. */
export type Check = (value: unknown) => string | undefined;

export const isString: Check = (v) =>
  typeof v === 'string' && v.length > 0 ? undefined : 'must be a non-empty string';
export const isPrefix: Check = (v) => (typeof v === 'string' ? undefined : 'must be a string');
export const isBoolean: Check = (v) => (typeof v === 'boolean' ? undefined : 'must be true or false');
export const isFunction: Check = (v) => (typeof v === 'function' ? undefined : 'must be a function');
export const isObject: Check = (v) => (typeof v === 'object' && v !== null ? undefined : 'must be an object');
export const isInteger =
  (min: number, max: number): Check =>
  (v) =>
    Number.isInteger(v) && (v as number) >= min && (v as number) <= max
      ? undefined
      : `must be a whole number from ${min} to ${max}`;
export const isUrl: Check = (v) => {
  if (typeof v !== 'string') return 'must be a URL string';
  return URL.canParse(v) ? undefined : 'must be an absolute URL';
};

/**
 * Checks an options object strictly, as middy does: a misspelt or unknown option fails loudly instead of being
 * ignored. `required` names the options that must be present. Throws one `ConfigurationError` listing every issue.
 */
export function checkOptions(
  options: unknown,
  where: string,
  checks: Record<string, Check>,
  required: string[] = [],
): void {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigurationError(`${where}: the options must be an object`, {
      issues: [{ path: where, message: 'must be an object' }],
    });
  }
  const issues: FieldIssue[] = [];
  for (const [name, value] of Object.entries(options)) {
    const check = checks[name];
    if (!check)
      issues.push({ path: `${where}.${name}`, message: `is not an option (known: ${Object.keys(checks).join(', ')})` });
    else if (value !== undefined) {
      const problem = check(value);
      if (problem) issues.push({ path: `${where}.${name}`, message: problem });
    }
  }
  for (const name of required) {
    if ((options as Record<string, unknown>)[name] === undefined)
      issues.push({ path: `${where}.${name}`, message: 'is required' });
  }
  if (issues.length > 0) {
    throw new ConfigurationError(`${where}: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`, { issues });
  }
}

/** A URL fit for an error message: no user info, no query (a pre-signed URL's signature lives there). */
export function displayUrl(url: string): string {
  if (!URL.canParse(url)) return url;
  const u = new URL(url);
  u.username = '';
  u.password = '';
  u.search = '';
  return u.toString();
}

/** The region in an AWS URL (`https://sqs.eu-west-1.amazonaws.com/...`) or ARN (`arn:aws:lambda:eu-west-1:...`). */
export function regionIn(value: string): string | undefined {
  const arn = /^arn:aws[a-z-]*:[a-z0-9-]+:([a-z0-9-]+):/.exec(value);
  if (arn) return arn[1] || undefined;
  return /^https:\/\/(?:sqs\.)?([a-z]{2}(?:-[a-z]+)+-\d)\.(?:queue\.)?amazonaws\.com/.exec(value)?.[1];
}
