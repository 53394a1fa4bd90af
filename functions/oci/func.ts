import { type Context, handle } from '@fnproject/fdk';
import { handleBatch } from './batch.ts';
import { handleHttp } from './http.ts';

/**
 * The one OCI function, two triggers told apart by Fn's headers: API Gateway sets `Fn-Http-Request-Url` (and the
 * other `Fn-Http-*` headers), Connector Hub invokes with the batch alone.
 */
export function mailroute(input: string, context: Context): Promise<unknown> {
  return context.getHeader('Fn-Http-Request-Url') === null ? handleBatch(input, context) : handleHttp(input, context);
}

/** Listens on `FN_LISTENER` as soon as the module loads (Fn starts `node dist/func.mjs`); call it to stop. */
export const stop = handle(mailroute, { inputMode: 'string' });
