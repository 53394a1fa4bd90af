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
  const env = {
    ACS_CONNECTION_STRING: acs.connectionString,
    GMAIL_PRIVATE_KEY: gmailKey.privateKey,
    OCI_PRIVATE_KEY: ociKey.privateKey,
    AWS_ACCESS_KEY_ID: 'emulator',
    AWS_SECRET_ACCESS_KEY: 'emulator',
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
  - { name: ses-api, provider: ses, mode: api, region: us-east-1, endpoint: ${ses.url}, credentials: { accessKeyId: { env: AWS_ACCESS_KEY_ID }, secretAccessKey: { env: AWS_SECRET_ACCESS_KEY } } }
  - { name: acs-api, provider: azure, mode: api, connectionString: { env: ACS_CONNECTION_STRING }, waitForCompletion: true, pollIntervalMs: 50 }
  - { name: gmail-api, provider: gmail, mode: api, endpoint: ${gmail.url}, user: ${GMAIL_USER}, serviceAccount: { clientEmail: ${GMAIL_ACCOUNT}, privateKey: { env: GMAIL_PRIVATE_KEY }, tokenUrl: ${gmail.tokenUrl} } }
  - { name: oci-api, provider: oci, mode: api, region: us-ashburn-1, endpoint: ${oci.url}, compartmentId: ocid1.compartment.oc1..emulator, apiKey: { tenancy: "${tenancy}", user: "${user}", fingerprint: "${fingerprint}", privateKey: { env: OCI_PRIVATE_KEY } } }
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
