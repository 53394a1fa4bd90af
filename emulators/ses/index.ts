export { resolveSesError, sendSesError, sesErrors } from './errors.ts';
export type { SesEmulator, SesStore, SesStoredEmail } from './proxy.ts';
export { startSesEmulator } from './proxy.ts';
