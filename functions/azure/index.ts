/**
 * The function app's entry point (package.json `main` of the deployed build): importing the handlers registers
 * them with the Functions host.
 */
export { acsEvents } from './events.ts';
export { httpApi, unsubscribeApi } from './http.ts';
export { sendQueuedMessage } from './queue.ts';
