import { InvokeCommand, type InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda';
import { ProviderUnavailableError } from '../core/errors.ts';
import type { MessageInput } from '../core/message/message.ts';
import { translateAwsError } from './aws-errors.ts';
import { checkOptions, isObject, isString, isUrl, regionIn } from './options.ts';
import { checkPayloadSize, preparePayload } from './payload.ts';

/** Lambda's limit on a synchronous (RequestResponse) invoke's request payload: 6 MB, counted in bytes. */
export const LAMBDA_SYNC_MAX_BYTES = 6_291_456;

export interface LambdaInvokerOptions {
  /** A name, `name:alias` or an ARN. */
  functionName: string;
  client?: LambdaClient;
  /** Default: the region in an ARN, else the SDK's default chain. */
  region?: string;
  endpoint?: string;
}

export interface LambdaInvoker {
  /** Sends the message JSON as the event and resolves with the function's JSON answer. */
  invoke<T = unknown>(message: MessageInput): Promise<T>;
}

/**
 * Calls the direct-invoke function synchronously (RequestResponse). The message is validated first; a payload over
 * 6 MB is refused before any call. A function that throws answers 200 with `X-Amz-Function-Error`: that becomes a
 * ProviderUnavailableError carrying the function's error type and message.
 *
 * @example
 * const mailroute = createLambdaInvoker({ functionName: 'mailroute-prod-send' });
 * const answer = await mailroute.invoke({ from: 'app@example.com', to: 'ann@example.net', subject: 'Hi', text: 'Hello' });
 */
export function createLambdaInvoker(options: LambdaInvokerOptions): LambdaInvoker {
  checkOptions(
    options,
    'createLambdaInvoker',
    { functionName: isString, client: isObject, region: isString, endpoint: isUrl },
    ['functionName'],
  );
  const { functionName } = options;
  const region = options.region ?? regionIn(functionName);
  const client =
    options.client ??
    new LambdaClient({ ...(region ? { region } : {}), ...(options.endpoint ? { endpoint: options.endpoint } : {}) });
  const where = `Lambda function ${functionName} (synchronous invoke)`;

  return {
    async invoke<T>(message: MessageInput): Promise<T> {
      const payload = preparePayload(message);
      checkPayloadSize(payload, LAMBDA_SYNC_MAX_BYTES, where, { provider: 'lambda' });
      let out: InvokeCommandOutput;
      try {
        out = await client.send(
          new InvokeCommand({ FunctionName: functionName, InvocationType: 'RequestResponse', Payload: payload.body }),
        );
      } catch (error) {
        const target = { service: 'Lambda', operation: 'Invoke', setting: 'functionName' } as const;
        throw translateAwsError(error, { ...target, resource: functionName, bytes: payload.bytes });
      }
      const text = out.Payload ? Buffer.from(out.Payload).toString('utf8') : '';
      const answer = parseJson(text);
      if (out.FunctionError) {
        const failure = (answer.ok ? answer.value : undefined) as {
          errorType?: unknown;
          errorMessage?: unknown;
        } | null;
        const type = typeof failure?.errorType === 'string' ? failure.errorType : out.FunctionError;
        const reason = typeof failure?.errorMessage === 'string' ? failure.errorMessage : text || 'no error message';
        throw new ProviderUnavailableError(`Lambda function ${functionName} failed (${type}): ${reason}`, {
          provider: 'lambda',
          providerCode: type,
        });
      }
      if (!answer.ok) {
        throw new ProviderUnavailableError(
          `Lambda function ${functionName} answered with something not JSON: ${text.slice(0, 200)}`,
          {
            provider: 'lambda',
          },
        );
      }
      return answer.value as T;
    },
  };
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: text === '' ? null : JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}
