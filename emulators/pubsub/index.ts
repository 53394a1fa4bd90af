export { CLOUD_PLATFORM_SCOPE, PUBSUB_SCOPE } from './metadata.ts';
export { PUBSUB_LIMITS } from './publish-request.ts';
export {
  type PubSubEmulator,
  type PubSubEmulatorOptions,
  type PubSubStoredMessage,
  startPubSubEmulator,
} from './server.ts';
