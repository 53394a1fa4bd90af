import {
  type MailrouteError,
  type MailrouteErrorOptions,
  ProviderUnavailableError,
  TransientError,
} from '../../core/errors.ts';
import { type ConnectWatch, connectTimedOut } from './connect-watch.ts';

/**
 * Reads a call that got no answer through its ConnectWatch, before an adapter's own rules take a lost answer for
 * a request that may have arrived:
 * - a connection of its own that was not set up in time → ProviderUnavailableError: nothing was sent, and the
 *   endpoint is as good as unreachable (retrying it costs the whole timeout again), so the router moves on at once;
 * - connections of its own that failed otherwise before any was ready (refused, reset during TLS, the deadline
 *   came while connecting) → TransientError: nothing was sent;
 * - undefined: a request may have left; the adapter decides.
 */
export function unsentFailure(
  error: unknown,
  watch: ConnectWatch | undefined,
  service: string,
  options: MailrouteErrorOptions,
): MailrouteError | undefined {
  const reason = (error as Error | undefined)?.message ?? String(error);
  if (watch?.timedOut || connectTimedOut(error)) {
    const bound = watch?.timeoutMs === undefined ? '' : ` within ${watch.timeoutMs} ms`;
    return new ProviderUnavailableError(
      `${service} could not be connected to${bound} (DNS, TCP, TLS): nothing was sent (${reason})`,
      { ...options, cause: error },
    );
  }
  if (watch?.neverConnected) {
    return new TransientError(`${service}: no connection was made, nothing was sent (${reason})`, {
      ...options,
      cause: error,
    });
  }
  return undefined;
}
