export { md5OfAttributes, type SqsEmulator, type SqsMessage, startSqsEmulator } from './server.ts';
