import { subscribe } from 'node:diagnostics_channel';
import { ConnectTimeoutError, ConnectWatch, currentWatch } from './connect-watch.ts';

/** The parts of undici's diagnostics messages read here (documented in undici's DiagnosticsChannel.md). */
interface UndiciRequestMessage {
  request: { origin?: unknown };
}

const watched = new WeakMap<object, FetchConnectWatch>();
let subscribed = false;

/**
 * A ConnectWatch for SDKs on Node's fetch (OCI), which takes no agent and whose connect timeout is not
 * configurable without undici's own classes. Node's fetch reports each request it creates and the moment its
 * headers and its body go out on a connection (`undici:request:create`, `undici:client:sendHeaders`,
 * `undici:request:bodySent`): a request to `origin` whose headers did not go out within `connectTimeoutMs` is
 * aborted through `signal`, and one whose body never went out whole cannot have been acted on. Unlike the
 * agents' watch this one also sees requests on kept-alive connections.
 */
export class FetchConnectWatch extends ConnectWatch {
  /** Requests of this call whose body was written whole: the service may have one. */
  bodiesSent = 0;
  readonly signal: AbortSignal;
  private readonly origin: string;
  private readonly connectTimeoutMs: number;
  private readonly controller = new AbortController();
  private timer?: NodeJS.Timeout;

  constructor(origin: string, connectTimeoutMs: number) {
    super();
    subscribeOnce();
    this.origin = originOf(origin);
    this.connectTimeoutMs = connectTimeoutMs;
    this.signal = this.controller.signal;
  }

  /** A request of this call went out whole: without its answer, the service may have acted on it. */
  get sent(): boolean {
    return this.bodiesSent > 0;
  }

  override async run<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await super.run(call);
    } finally {
      clearTimeout(this.timer);
    }
  }

  created(request: UndiciRequestMessage['request']): void {
    // Only the endpoint's requests: a token fetched on the way (resource principal) must not count as sent.
    if (String(request.origin) !== this.origin) return;
    watched.set(request, this);
    this.opened++;
    if (this.ready > 0 || this.timer) return;
    this.timer = setTimeout(() => {
      this.expired(this.connectTimeoutMs);
      this.controller.abort(new ConnectTimeoutError(this.connectTimeoutMs, this.origin));
    }, this.connectTimeoutMs);
  }

  headersSent(): void {
    this.ready++;
    clearTimeout(this.timer);
  }

  bodySent(): void {
    this.bodiesSent++;
  }
}

/** An endpoint that is not a URL matches no request: the watch then sees nothing, and changes nothing. */
function originOf(endpoint: string): string {
  try {
    return new URL(endpoint).origin;
  } catch {
    return '';
  }
}

function subscribeOnce(): void {
  if (subscribed) return;
  subscribed = true;
  subscribe('undici:request:create', (message) => {
    // Published inside fetch(), so the async context is the SDK call's.
    const watch = currentWatch();
    if (watch instanceof FetchConnectWatch) watch.created((message as UndiciRequestMessage).request);
  });
  subscribe('undici:client:sendHeaders', (message) => {
    watched.get((message as UndiciRequestMessage).request)?.headersSent();
  });
  subscribe('undici:request:bodySent', (message) => {
    watched.get((message as UndiciRequestMessage).request)?.bodySent();
  });
}
