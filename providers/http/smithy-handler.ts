import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { HttpHandlerOptions } from '@smithy/types';

type Request = Parameters<NodeHttpHandler['handle']>[0];
type Answer = ReturnType<NodeHttpHandler['handle']>;

import { openingFor } from './connect-watch.ts';

/** What NodeHttpHandler keeps of its configuration: private in its types, read here to resolve it once. */
interface HandlerInternals {
  config?: unknown;
  configProvider: Promise<unknown>;
}

/**
 * smithy's NodeHttpHandler, with the connections a call opens reported to that call's `ConnectWatch` (registered
 * on the call's options by `watchedOptions`). Once its configuration is resolved (the first call awaits it), its
 * `handle` runs synchronously up to `http.request`, where the agent opens a connection: that window is where the
 * watch is made current. With our agents given, no other await precedes the request (smithy awaits
 * `httpAgentProvider` only when no http agent was given).
 */
export class WatchedHttpHandler extends NodeHttpHandler {
  override async handle(request: Request, options: HttpHandlerOptions = {}): Answer {
    const self = this as unknown as HandlerInternals;
    if (!self.config) self.config = await self.configProvider;
    return openingFor(options, () => super.handle(request, options));
  }
}
