import { describe, expect, it } from 'vitest';
import { resolveSecret, validateConfig } from '../../core/config/config.ts';
import { loadCloudSecrets } from '../../core/config/secret-loader.ts';
import { describeSecretRef, provideSecret, secretRef } from '../../core/config/secret-refs.ts';
import { ConfigurationError } from '../../core/errors.ts';
import { deadlinesBefore } from '../../core/runtime/deadline.ts';
import { connectorHubRecords } from '../../functions/oci/batch-input.ts';
import { fnEnd } from '../../functions/oci/config.ts';
import { failedQueueSink } from '../../functions/oci/failed-queue.ts';

/** The send deadline of an OCI invocation: Fn-Deadline, through the runtime's one margin. */
const deadlineOf = (context: { deadline: Date }, env: NodeJS.ProcessEnv) =>
  deadlinesBefore(fnEnd(context)(), env).deadline;

const OCID = 'ocid1.vaultsecret.oc1.eu-frankfurt-1.amaaaaaaunittestsecret';
const entry = (password: unknown) => ({
  providers: [
    {
      provider: 'oci',
      mode: 'smtp',
      region: 'eu-frankfurt-1',
      smtpCredentials: { username: { env: 'U' }, password },
    },
  ],
});

describe('{ ociVault } secret references', () => {
  it('are accepted in any secret field, and a wrong one is named precisely', () => {
    expect(() => validateConfig(entry({ ociVault: OCID }), 'test')).not.toThrow();
    const messageOf = (value: unknown) => secretRef.safeParse(value).error?.issues[0]?.message;
    expect(messageOf({ ociVault: 'arn:aws:secretsmanager:x' })).toMatch(/^must be an OCI Vault secret OCID such as/);
    expect(messageOf({ ociVault: 5 })).toMatch(/^\{ ociVault \} must be an OCI Vault secret OCID/);
    expect(secretRef.safeParse({ ociVault: OCID, key: 'password' }).success).toBe(false);
    expect(describeSecretRef({ ociVault: OCID })).toBe(`OCI Vault secret ${OCID}`);
  });

  it('resolve to the value provided at cold start, and name the field until then', () => {
    const ref = { ociVault: `${OCID}resolve` };
    expect(() => resolveSecret(ref, 'providers[0].smtpCredentials.password')).toThrow(
      `providers[0].smtpCredentials.password: OCI Vault secret ${OCID}resolve has not been read`,
    );
    provideSecret(ref, 'unit-test-vault-value-42');
    expect(resolveSecret(ref, 'providers[0].smtpCredentials.password')).toBe('unit-test-vault-value-42');
  });

  it('loadCloudSecrets reads each distinct id once and reports every failure with its field', async () => {
    const reads: string[] = [];
    const config = {
      providers: [
        { a: { ociVault: `${OCID}a` }, b: { ociVault: `${OCID}a` } },
        { c: { ociVault: `${OCID}gone` }, d: { ssm: '/not/ours' } },
      ],
    };
    const error = await loadCloudSecrets(
      config,
      (ref) => ('ociVault' in ref ? ref.ociVault : undefined),
      async (id) => {
        reads.push(id);
        if (id.endsWith('gone')) throw new Error('404 NotAuthorizedOrNotFound');
        return 'value-of-a-secret';
      },
    ).catch((e: unknown) => e);
    expect(reads).toEqual([`${OCID}a`, `${OCID}gone`]);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).issues).toEqual([
      {
        path: 'providers[1].c',
        message: `OCI Vault secret ${OCID}gone could not be read (404 NotAuthorizedOrNotFound)`,
      },
    ]);
  });
});

describe('Connector Hub payload → QueueRecords', () => {
  const content = '{"from":"a@example.com"}';
  it('takes an array of queue messages, a single message, { messages }, and bare strings', () => {
    expect(connectorHubRecords(JSON.stringify([{ id: 11, content, deliveryCount: 2, receipt: 'r' }]))).toEqual([
      { id: '11', body: content, receiveCount: 2 },
    ]);
    expect(connectorHubRecords(JSON.stringify({ id: '12', content }))).toEqual([{ id: '12', body: content }]);
    expect(connectorHubRecords(JSON.stringify({ messages: [{ id: 13, content }] }))).toEqual([
      { id: '13', body: content },
    ]);
    expect(connectorHubRecords(JSON.stringify([content]))).toEqual([
      { id: expect.stringMatching(/^sha256:[0-9a-f]{64}$/), body: content },
    ]);
    expect(connectorHubRecords('[]')).toEqual([]);
  });

  it('refuses what is not a batch, so the invocation fails', () => {
    expect(() => connectorHubRecords('not json')).toThrow(/the Connector Hub payload is not JSON/);
    expect(() => connectorHubRecords('[{"id": 1}]')).toThrow(/message 0 has no string content/);
  });
});

describe('OCI function settings', () => {
  it('the send deadline is Fn-Deadline less the margin', () => {
    const end = new Date(Date.now() + 30_000);
    expect(deadlineOf({ deadline: end }, {})).toBe(end.getTime() - 1_000);
    expect(deadlineOf({ deadline: end }, { MAILROUTE_DEADLINE_MARGIN_MS: '2500' })).toBe(end.getTime() - 2_500);
    expect(() => deadlineOf({ deadline: end }, { MAILROUTE_DEADLINE_MARGIN_MS: 'soon' })).toThrow(
      /MAILROUTE_DEADLINE_MARGIN_MS must be a positive integer/,
    );
  });

  it('a dead letter without a failed queue configured is a ConfigurationError naming the variable', async () => {
    const sink = failedQueueSink({});
    const error = await sink({ id: '1', body: 'x' }, 'INVALID_JSON: x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).issues).toEqual([
      { path: 'MAILROUTE_FAILED_QUEUE_ID', message: 'is not set' },
    ]);
  });
});
