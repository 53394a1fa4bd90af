/** What the AWS SDK v3 puts on its errors: a service exception, a network error, or a credentials error. */
export interface AwsSdkError {
  name?: string;
  code?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
  $response?: { headers?: Record<string, string | undefined> };
}

/**
 * Error names AWS services give when the credentials or their permissions are refused: the same for SES, SQS,
 * S3, Lambda and KMS, so the provider adapter and the producer clients read them from this one list.
 */
export const AWS_CREDENTIALS_REFUSED: ReadonlySet<string> = new Set([
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidAccessKeyId',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'InvalidSecurity',
  'ExpiredTokenException',
  'ExpiredToken',
  'AccessDeniedException',
  'AccessDenied',
  'KmsAccessDenied',
]);
