import { redactSecrets } from '../config/secrets.ts';

export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** `jane.doe@example.com` → `j***@example.com`: enough to correlate, not enough to harvest. */
export function maskAddress(address: string): string {
  const at = address.lastIndexOf('@');
  if (at <= 0) return '***';
  return `${address[0]}***${address.slice(at)}`;
}

/** One JSON object per line, secrets scrubbed; to stderr by default so stdout stays the command's output. */
export function jsonLogger(write: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Logger {
  const emit =
    (level: string) =>
    (msg: string, fields: Record<string, unknown> = {}) =>
      write(redactSecrets(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })));
  return { info: emit('info'), warn: emit('warn'), error: emit('error') };
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
