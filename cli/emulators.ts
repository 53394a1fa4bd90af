import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startAcsEmulator } from '../emulators/acs/index.ts';
import { startGmailEmulator } from '../emulators/gmail/index.ts';
import { startOciEmulator } from '../emulators/oci/index.ts';
import { startSesEmulator } from '../emulators/ses/index.ts';
import { startSqsEmulator } from '../emulators/sqs/index.ts';

const GMAIL_ACCOUNT = 'mailroute@emulator.iam.gserviceaccount.com';
const GMAIL_USER = 'sender@example.com';
const OCI_KEY_ID = 'ocid1.tenancy.oc1..emulator/ocid1.user.oc1..emulator/00:11:22:33';

/** The variables `emulators.env` sets, which the configuration written beside it names. */
export const EMULATOR_ENV = {
  acsConnectionString: 'MAILROUTE_EMU_ACS_CONNECTION_STRING',
  gmailPrivateKey: 'MAILROUTE_EMU_GMAIL_PRIVATE_KEY',
  ociPrivateKey: 'MAILROUTE_EMU_OCI_PRIVATE_KEY',
  awsAccessKeyId: 'MAILROUTE_EMU_AWS_ACCESS_KEY_ID',
  awsSecretAccessKey: 'MAILROUTE_EMU_AWS_SECRET_ACCESS_KEY',
} as const;

/**
 * Starts every emulator on loopback with fresh credentials, writes them to `dir` (`emulators.env` with the
 * secrets, `mailroute.config.yaml` pointing each API-mode provider at its emulator) and returns a stop function.
 */
export async function startAllEmulators(dir: string, out: (line: string) => void): Promise<() => Promise<void>> {
  mkdirSync(dir, { recursive: true });
  const rsa = () =>
    generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
  const gmailKey = rsa();
  const ociKey = rsa();
  const acs = await startAcsEmulator({ accessKey: randomBytes(32).toString('base64') });
  const gmail = await startGmailEmulator({
    serviceAccounts: [{ clientEmail: GMAIL_ACCOUNT, publicKeyPem: gmailKey.publicKey }],
    delegatedUsers: [GMAIL_USER],
  });
  const oci = await startOciEmulator({ keys: [{ keyId: OCI_KEY_ID, publicKeyPem: ociKey.publicKey }] });
  const ses = await startSesEmulator();
  const sqs = await startSqsEmulator();
  const [tenancy, user, fingerprint] = OCI_KEY_ID.split('/');
  // Every name under MAILROUTE_EMU_: sourcing the file must not replace a variable an SDK or a CLI reads (AWS_*,
  // AZURE_*, GOOGLE_*, OCI_*, ...), so a user's real credentials in the same shell stay as they were.
  const env = {
    [EMULATOR_ENV.acsConnectionString]: acs.connectionString,
    [EMULATOR_ENV.gmailPrivateKey]: gmailKey.privateKey,
    [EMULATOR_ENV.ociPrivateKey]: ociKey.privateKey,
    [EMULATOR_ENV.awsAccessKeyId]: 'emulator',
    [EMULATOR_ENV.awsSecretAccessKey]: 'emulator',
  };
  writeFileSync(
    join(dir, 'emulators.env'),
    // Single-quoted, multi-line values: what `set -a; . emulators.env` reads back unchanged.
    `${Object.entries(env)
      .map(([k, v]) => `${k}='${v}'`)
      .join('\n')}\n`,
    { mode: 0o600 },
  );
  const config = `# Written by \`mailroute emulators\`: every API-mode provider pointed at its local emulator.
providers:
  - { name: ses-api, provider: ses, mode: api, region: us-east-1, endpoint: ${ses.url}, credentials: { accessKeyId: { env: ${EMULATOR_ENV.awsAccessKeyId} }, secretAccessKey: { env: ${EMULATOR_ENV.awsSecretAccessKey} } } }
  - { name: acs-api, provider: azure, mode: api, connectionString: { env: ${EMULATOR_ENV.acsConnectionString} }, waitForCompletion: true, pollIntervalMs: 50 }
  - { name: gmail-api, provider: gmail, mode: api, endpoint: ${gmail.url}, user: ${GMAIL_USER}, serviceAccount: { clientEmail: ${GMAIL_ACCOUNT}, privateKey: { env: ${EMULATOR_ENV.gmailPrivateKey} }, tokenUrl: ${gmail.tokenUrl} } }
  - { name: oci-api, provider: oci, mode: api, region: us-ashburn-1, endpoint: ${oci.url}, compartmentId: ocid1.compartment.oc1..emulator, apiKey: { tenancy: "${tenancy}", user: "${user}", fingerprint: "${fingerprint}", privateKey: { env: ${EMULATOR_ENV.ociPrivateKey} } } }
`;
  writeFileSync(join(dir, 'mailroute.config.yaml'), config);
  out(`SES (aws-ses-v2-local behind a fault proxy): ${ses.url}`);
  out(`ACS Email: ${acs.url}`);
  out(`Gmail API: ${gmail.url} (token endpoint ${gmail.tokenUrl}; user ${GMAIL_USER})`);
  out(`OCI Email Delivery submission: ${oci.url}`);
  out(`SQS: ${sqs.url}`);
  out(
    `Credentials in ${resolve(dir, 'emulators.env')}; a configuration using them in ${resolve(dir, 'mailroute.config.yaml')}:`,
  );
  out(
    `  set -a; . ${resolve(dir, 'emulators.env')}; set +a; npx mailroute send --config ${resolve(dir, 'mailroute.config.yaml')} --provider acs-api --from a@example.com --to b@example.com --subject Hi --text Hello`,
  );
  out(
    'Faults: POST <url>/_emulator/faults with {"status":503,"count":1}; what each accepted: GET <url>/_emulator/store',
  );
  return async () => {
    await Promise.all([acs.close(), gmail.close(), oci.close(), ses.close(), sqs.close()]);
  };
}
