export { resolveSesError, sendSesError, sesErrors } from './errors.ts';
export type { SesIdentity } from './identities.ts';
export { dkimToken, easyDkimIdentity } from './identities.ts';
export type { SesAccount, SesEmulator, SesStore, SesStoredEmail } from './proxy.ts';
export { DEFAULT_SES_ACCOUNT, startSesEmulator } from './proxy.ts';
