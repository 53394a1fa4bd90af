/**
 * The deployed source's entry: registers the functions with the Functions Framework. Each Cloud Function picks
 * its own with its entry point (`mailrouteQueue`, `mailrouteHttp`, and the optional public `mailrouteUnsubscribe`);
 * see infra/gcp/README.md.
 */
export { handleHttp, handleUnsubscribe } from './http.ts';
export { handlePubSubEvent } from './queue.ts';
