export { decodeAwsChunked, S3Error, verifyUpload } from './checksums.ts';
export { type S3Emulator, type S3Object, startS3Emulator } from './server.ts';
