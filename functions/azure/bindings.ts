/**
 * The functions' trigger bindings, as data: the handlers register them, and the Terraform test checks that the
 * app settings they name exist and point at the queue Terraform creates.
 */

/** The storage connection of the host and of the queue trigger: `AzureWebJobsStorage` (a connection string) or
 * `AzureWebJobsStorage__accountName` / `__queueServiceUri` (the app's managed identity). */
export const STORAGE_CONNECTION = 'AzureWebJobsStorage';

/** The app setting naming the send queue; `%NAME%` makes the host read the queue name from it. */
export const SEND_QUEUE_SETTING = 'MAILROUTE_SEND_QUEUE';
export const FAILED_QUEUE_SETTING = 'MAILROUTE_FAILED_QUEUE';

export const SEND_QUEUE_FUNCTION = 'send-queue';
export const SEND_QUEUE_TRIGGER = { queueName: `%${SEND_QUEUE_SETTING}%`, connection: STORAGE_CONNECTION } as const;

/**
 * `authLevel: 'function'`: callers present a function key (`x-functions-key` header or `?code=`). For Entra ID
 * instead, turn on App Service Authentication (Easy Auth) on the app and require it; see README.md.
 * host.json sets `routePrefix` to "" so the paths are `/v1/send` and `/healthz`, as `npm start` serves them.
 */
export const HTTP_ROUTES = {
  'http-send': { route: 'v1/send', methods: ['POST'], authLevel: 'function' },
  'http-healthz': { route: 'healthz', methods: ['GET'], authLevel: 'function' },
  // Delivery events over HTTP (an Event Grid webhook with `?code=`, a DSN); OPTIONS is the CloudEvents handshake.
  'http-events': { route: 'v1/events/{source}', methods: ['POST', 'OPTIONS'], authLevel: 'function' },
} as const;

/**
 * The one route without a function key (`authLevel: 'anonymous'`): the one-click unsubscribe links (RFC 8058) that
 * mailbox providers and recipients follow, `GET|POST /v1/unsubscribe?token=…`, whose signed token is the
 * credential (core/events/unsubscribe.ts). Its handler serves that path only; every other route keeps its key.
 */
export const PUBLIC_HTTP_ROUTES = {
  'http-unsubscribe': { route: 'v1/unsubscribe', methods: ['GET', 'POST'], authLevel: 'anonymous' },
} as const;

/**
 * The Event Grid trigger of ACS email events; infra/azure subscribes it (`<app id>/functions/acs-events`) to the
 * Communication Service's system topic.
 */
export const ACS_EVENTS_FUNCTION = 'acs-events';
export const ACS_EVENT_TYPES = [
  'Microsoft.Communication.EmailDeliveryReportReceived',
  'Microsoft.Communication.EmailEngagementTrackingReportReceived',
] as const;
