/**
 * The deployed source's entry: registers both functions with the Functions Framework. Each Cloud Function picks
 * its own with its entry point (`mailrouteQueue`, `mailrouteHttp`); see infra/gcp/README.md.
 */
export { handleHttp } from './http.ts';
export { handlePubSubEvent } from './queue.ts';
