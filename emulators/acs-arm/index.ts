export {
  type AcsArmClient,
  type AcsArmEmulator,
  type AcsArmEmulatorOptions,
  type AcsDnsRecord,
  type AcsDomainProperties,
  type AcsVerificationKind,
  type AcsVerificationStatus,
  customDomain,
  documentedRecords,
  startAcsArmEmulator,
  supportedArmApiVersions,
} from './server.ts';
