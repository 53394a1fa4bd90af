import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FaultPlan, playLatencyAndDrop, readBody } from '../common/faults.ts';
import { LambdaApiError, resolveName, sendError } from './errors.ts';

/**
 * AWS Lambda's Invoke API (`POST /2015-03-31/functions/{name}/invocations`, REST-JSON), as `@aws-sdk/client-lambda`
 * speaks it, running handlers registered in the process. As Lambda does: the request body is the event (it must be
 * JSON, at most 6 MB for a synchronous call); the answer is the handler's return value as JSON (`null` for
 * undefined); a thrown error is still a 200, with `X-Amz-Function-Error: Unhandled` and
 * `{ errorType, errorMessage, trace }`; `Event` answers 202 and runs the handler afterwards, `DryRun` 204.
 * The function name may be a name, `name:qualifier` or an ARN.
 */
export type LambdaHandler = (event: unknown, context: LambdaContext) => unknown;

export interface LambdaContext {
  functionName: string;
  awsRequestId: string;
  invokedFunctionArn: string;
}

export interface LambdaInvocation {
  functionName: string;
  invocationType: 'RequestResponse' | 'Event' | 'DryRun';
  event: unknown;
  qualifier?: string;
}

export interface LambdaEmulator {
  url: string;
  register(functionName: string, handler: LambdaHandler): void;
  /** Every invocation that reached a function, in order (DryRun included). */
  invocations: LambdaInvocation[];
  faults: FaultPlan;
  close(): Promise<void>;
}

/** Lambda's synchronous payload limit, for the request and for the answer. */
export const SYNC_PAYLOAD_LIMIT = 6_291_456;
const ACCOUNT = '000000000000';

export async function startLambdaEmulator(
  options: { host?: string; port?: number; region?: string; functions?: Record<string, LambdaHandler> } = {},
): Promise<LambdaEmulator> {
  const region = options.region ?? 'us-east-1';
  const handlers = new Map(Object.entries(options.functions ?? {}));
  const invocations: LambdaInvocation[] = [];
  const faults = new FaultPlan();
  const arnOf = (name: string) => `arn:aws:lambda:${region}:${ACCOUNT}:function:${name}`;

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://lambda');
    const body = await readBody(req);
    const fault = faults.take(url.pathname);
    if (fault) {
      if (await playLatencyAndDrop(fault, req, res)) return;
      if (fault.status) {
        const type =
          fault.errorCode ??
          (fault.status === 429
            ? 'TooManyRequestsException'
            : fault.status >= 500
              ? 'ServiceException'
              : 'InvalidParameterValueException');
        const extra: Record<string, string> =
          fault.retryAfter === undefined ? {} : { 'retry-after': String(fault.retryAfter) };
        return sendError(res, new LambdaApiError(type, fault.message ?? 'Injected fault.', fault.status), extra);
      }
    }
    const match = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(url.pathname);
    if (req.method !== 'POST' || !match) {
      throw new LambdaApiError('UnknownOperationException', `${req.method} ${url.pathname} is not emulated`, 404);
    }
    const target = resolveName(decodeURIComponent(match[1]!));
    const qualifier = url.searchParams.get('Qualifier') ?? target.qualifier;
    const handler = handlers.get(target.name);
    if (!handler)
      throw new LambdaApiError('ResourceNotFoundException', `Function not found: ${arnOf(target.name)}`, 404);
    const invocationType = String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse');
    if (invocationType !== 'RequestResponse' && invocationType !== 'Event' && invocationType !== 'DryRun') {
      throw new LambdaApiError('InvalidParameterValueException', `Unsupported invocation type ${invocationType}`, 400);
    }
    if (invocationType === 'RequestResponse' && body.length > SYNC_PAYLOAD_LIMIT) {
      throw new LambdaApiError(
        'RequestTooLargeException',
        `Request must be smaller than ${SYNC_PAYLOAD_LIMIT} bytes for the InvokeFunction operation`,
        413,
      );
    }
    let event: unknown;
    try {
      event = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
    } catch {
      throw new LambdaApiError('InvalidRequestContentException', 'Could not parse request body into json', 400);
    }
    invocations.push({ functionName: target.name, invocationType, event, ...(qualifier ? { qualifier } : {}) });
    const context = { functionName: target.name, awsRequestId: randomUUID(), invokedFunctionArn: arnOf(target.name) };
    const common = { 'x-amzn-requestid': context.awsRequestId, 'x-amz-executed-version': '$LATEST' };
    if (invocationType === 'DryRun') return void res.writeHead(204, common).end();
    if (invocationType === 'Event') {
      res.writeHead(202, common).end();
      return void Promise.resolve()
        .then(() => handler(event, context))
        .catch(() => {});
    }
    let answer: string;
    let functionError = false;
    try {
      answer = JSON.stringify((await handler(event, context)) ?? null);
      if (Buffer.byteLength(answer) > SYNC_PAYLOAD_LIMIT) {
        functionError = true;
        answer = JSON.stringify({
          errorType: 'Function.ResponseSizeTooLarge',
          errorMessage: `Response payload size exceeded maximum allowed payload size (${SYNC_PAYLOAD_LIMIT} bytes).`,
        });
      }
    } catch (error) {
      functionError = true;
      const e = error instanceof Error ? error : new Error(String(error));
      answer = JSON.stringify({ errorType: e.name, errorMessage: e.message, trace: (e.stack ?? '').split('\n') });
    }
    res.writeHead(200, {
      ...common,
      'content-type': 'application/json',
      ...(functionError ? { 'x-amz-function-error': 'Unhandled' } : {}),
    });
    res.end(answer);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: Error) =>
      sendError(
        res,
        error instanceof LambdaApiError ? error : new LambdaApiError('ServiceException', error.message, 500),
      ),
    );
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address}:${port}`,
    register: (name, handler) => void handlers.set(name, handler),
    invocations,
    faults,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
