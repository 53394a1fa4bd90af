export {
  type LambdaContext,
  type LambdaEmulator,
  type LambdaHandler,
  type LambdaInvocation,
  SYNC_PAYLOAD_LIMIT,
  startLambdaEmulator,
} from './server.ts';
