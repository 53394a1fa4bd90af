export {
  emailDomainWithDkim,
  type OciDkim,
  type OciDkimState,
  type OciEmailDomain,
  type OciEmailDomainSetup,
  type OciEmailReturnPath,
} from './email-control.ts';
export { type OciEmulator, type OciEmulatorOptions, type OciStoredEmail, startOciEmulator } from './server.ts';
export type { OciApiKey } from './signature.ts';
export { type EmailAddress, MAX_RECIPIENTS } from './submission.ts';
