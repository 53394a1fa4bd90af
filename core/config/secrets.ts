/**
 * Every secret value the process has resolved is registered here, so that any text leaving the process
 * (an error message, a log line, printed configuration) can be scrubbed of it even when a provider or SDK
 * echoes a credential back in its own error text.
 */
const known = new Set<string>();

/** The smallest secret we scrub: shorter values would blank out ordinary words. */
const MIN_SECRET_LENGTH = 6;

export function registerSecret(value: string | undefined): void {
  if (value && value.length >= MIN_SECRET_LENGTH) known.add(value);
}

export function redactSecrets(text: string): string {
  let out = text;
  for (const secret of known) {
    if (out.includes(secret)) out = out.split(secret).join('[REDACTED]');
  }
  return out;
}

/** Names of configuration fields that hold secrets, whatever provider they belong to. */
export const SECRET_FIELD = /(secret|password|pass|privatekey|private_key|key$|token|connectionstring|credential)/i;
