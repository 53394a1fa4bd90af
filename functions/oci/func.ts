import { type Context, handle } from '@fnproject/fdk';
import { handleBatch } from './batch.ts';
import { emailDeliveryLogRecords, handleEvents } from './events.ts';
import { handleHttp } from './http.ts';

/**
 * The one OCI function, three triggers told apart by Fn's headers and the payload: API Gateway sets
 * `Fn-Http-Request-Url` (and the other `Fn-Http-*` headers); Connector Hub invokes with the batch alone, either
 * Email Delivery log records (delivery events, `com.oraclecloud.emaildelivery.*`) or send-queue messages.
 */
export function mailroute(input: string, context: Context): Promise<unknown> {
  if (context.getHeader('Fn-Http-Request-Url') !== null) return handleHttp(input, context);
  const logRecords = emailDeliveryLogRecords(input);
  return logRecords ? handleEvents(logRecords, context) : handleBatch(input, context);
}

/** Listens on `FN_LISTENER` as soon as the module loads (Fn starts `node dist/func.mjs`); call it to stop. */
export const stop = handle(mailroute, { inputMode: 'string' });
