import { describe, expect, it } from 'vitest';
import { sesSmtpPassword } from '../../providers/ses/smtp-password.ts';

describe('SES SMTP password (version 4)', () => {
  // Published vectors: terraform-provider-aws, internal/service/iam/access_key_test.go,
  // TestSESSMTPPasswordFromSecretKeySigV4. That implementation's passwords sign in to SES.
  it.each([
    ['eu-central-1', 'some+secret+key', 'BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2'],
    ['eu-central-1', 'another+secret+key', 'BBbphbrQmrKMx42d1N6+C7VINYEBGI5v9VsZeTxwskfh'],
    ['us-west-1', 'some+secret+key', 'BH+jbMzper5WwlwUar9E1ySBqHa9whi0GPo+sJ0mVYJj'],
    ['us-west-1', 'another+secret+key', 'BKVmjjMDFk/qqw8EROW99bjCS65PF8WKvK5bSr4Y6EqF'],
  ])('%s, %s → %s', (region, secret, password) => {
    expect(sesSmtpPassword(secret, region)).toBe(password);
  });

  it('is the version byte 4 followed by a 32-byte HMAC-SHA256, different in every region', () => {
    const bytes = Buffer.from(sesSmtpPassword('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'eu-west-1'), 'base64');
    expect(bytes).toHaveLength(33);
    expect(bytes[0]).toBe(0x04);
    const regions = ['us-east-1', 'eu-west-1', 'ap-southeast-2'];
    const passwords = regions.map((r) => sesSmtpPassword('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', r));
    expect(new Set(passwords).size).toBe(3);
  });
});
