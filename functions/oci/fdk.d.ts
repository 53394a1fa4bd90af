/**
 * Types for the parts of `@fnproject/fdk` 0.0.76 (which ships none) that mailroute uses. See its fn-fdk.js:
 * header names are canonicalized (`Fn-Http-Request-Url`) and every header value is a list.
 */
declare module '@fnproject/fdk' {
  /** The API Gateway request behind an invocation, from the `Fn-Http-*` headers. */
  export interface HTTPGatewayContext {
    /** `Fn-Http-Request-Url`: the request's path and query as the gateway received it. */
    readonly requestURL: string | null;
    readonly method: string | null;
    /** The caller's headers (from `Fn-Http-H-*`), canonical names, every value a list. */
    readonly headers: Record<string, string[]>;
    getHeader(key: string): string | null;
    /** Sets `Fn-Http-Status`, the status the gateway answers with. */
    statusCode: number;
    setResponseHeader(key: string, ...values: string[]): void;
  }

  export interface Context {
    /** `Fn-Deadline`: when the platform stops waiting for the answer. */
    readonly deadline: Date | null;
    readonly callID: string | null;
    readonly appName: string | undefined;
    readonly fnName: string | undefined;
    readonly headers: Record<string, string[]>;
    getHeader(key: string): string | null;
    responseContentType: string | null;
    setResponseHeader(key: string, ...values: string[]): void;
    readonly httpGateway: HTTPGatewayContext;
  }

  /**
   * Serves `POST /call` on the unix socket `FN_LISTENER` names (`FN_FORMAT=http-stream`); exits the process when
   * either is wrong or the socket path is taken. A rejection answers 502. Returns a function that stops listening.
   */
  export function handle(
    fn: (input: string, context: Context) => unknown,
    options: { inputMode: 'string' },
  ): () => void;
}
