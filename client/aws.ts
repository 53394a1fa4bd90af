/**
 * The AWS producer clients. Each lives in its own file so a service that only invokes does not bundle the SQS
 * client (import `./lambda-invoker.ts` directly), and the S3 client is loaded only when a payload is offloaded.
 */
export { type AwsTarget, translateAwsError } from './aws-errors.ts';
export {
  createLambdaInvoker,
  LAMBDA_SYNC_MAX_BYTES,
  type LambdaInvoker,
  type LambdaInvokerOptions,
} from './lambda-invoker.ts';
export { type Payload, preparePayload } from './payload.ts';
export type { S3OffloadOptions } from './s3-offload.ts';
export {
  DEFAULT_S3_PAYLOAD_PREFIX,
  MAX_S3_PAYLOAD_BYTES,
  readS3Reference,
  S3_REFERENCE_FIELD,
  type S3PayloadReference,
  s3ReferenceBody,
} from './s3-reference.ts';
export {
  createSqsProducer,
  type EnqueueOptions,
  type EnqueueResult,
  type GroupIdOf,
  SQS_DEFAULT_MAX_BYTES,
  SQS_MAX_BYTES,
  type SqsProducer,
  type SqsProducerOptions,
} from './sqs-producer.ts';
