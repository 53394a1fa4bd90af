export { GOOGLE_TOKEN_URL, type ServiceAccountKey } from './jwt-assertion.ts';
export {
  GMAIL_INSERT_SCOPE,
  GMAIL_METADATA_SCOPE,
  GMAIL_MODIFY_SCOPE,
  GMAIL_READONLY_SCOPE,
  GMAIL_SEND_SCOPE,
} from './oauth.ts';
export { GMAIL_INSERT_MAX_BYTES, GMAIL_SEND_MAX_BYTES, type UploadType } from './send-request.ts';
export {
  type GmailEmulator,
  type GmailEmulatorOptions,
  type GmailStoredMessage,
  startGmailEmulator,
} from './server.ts';
