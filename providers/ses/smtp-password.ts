import { createHmac } from 'node:crypto';

/** The fixed inputs of the SES SMTP password algorithm, version 4 (credentials made since January 2019). */
const DATE = '11111111';
const SERVICE = 'ses';
const TERMINAL = 'aws4_request';
const MESSAGE = 'SendRawEmail';
const VERSION = 0x04;

/**
 * The SES SMTP password for an IAM secret access key in one region: a SigV4 signing key chain over fixed
 * inputs, prefixed with the version byte. Each region gets a different password from the same key.
 *
 * @example sesSmtpPassword('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'eu-west-1')
 */
export function sesSmtpPassword(secretAccessKey: string, region: string): string {
  const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();
  let key = hmac(`AWS4${secretAccessKey}`, DATE);
  for (const step of [region, SERVICE, TERMINAL, MESSAGE]) key = hmac(key, step);
  return Buffer.concat([Buffer.from([VERSION]), key]).toString('base64');
}
