export { type ParameterType, type SsmEmulator, type SsmRequest, startSsmEmulator } from './server.ts';
