import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  copies,
  failoverConfig,
  Mailers,
  mail,
  ociSmtp,
  resetServer,
  type StoreBackend,
  startAzureTableBackend,
  startDynamoBackend,
  startTcpTap,
  steps,
  stubSmtpSecrets,
} from '../helpers/failover.ts';
import { type Fault, startTestSmtpServer, type TestSmtpServer } from '../helpers/smtp-test-server.ts';

// Instance A finds the primary down and records it in the shared store; instance B, which never saw the failure,
// skips the primary without trying it: the outage is discovered once, not once per function instance.

let primary: TestSmtpServer;
let secondary: TestSmtpServer;
let tap: Awaited<ReturnType<typeof startTcpTap>>;
const mailers = new Mailers();
const BACKENDS = ['DynamoDB on dynalite', 'Azure Table on Azurite'] as const;
const started = new Map<string, Promise<StoreBackend>>();

beforeAll(async () => {
  started.set('DynamoDB on dynalite', startDynamoBackend());
  started.set('Azure Table on Azurite', startAzureTableBackend());
  for (const backend of started.values()) backend.catch(() => {});
  [primary, secondary] = await Promise.all([startTestSmtpServer(), startTestSmtpServer()]);
  tap = await startTcpTap(primary);
  stubSmtpSecrets();
});
afterEach(async () => {
  await mailers.closeAll();
  resetServer(primary);
  resetServer(secondary);
});
afterAll(async () => {
  await Promise.all([tap.close(), primary.close(), secondary.close()]);
  await Promise.all([...started.values()].map((b) => b.then((backend) => backend.stop()).catch(() => {})));
});

const CAUSES: { cause: string; fault: Fault; code: string }[] = [
  {
    cause: 'credentials refused (535)',
    fault: { stage: 'auth', reply: '535 5.7.8 Bad credentials' },
    code: 'AUTHENTICATION',
  },
  {
    cause: 'an outage (554 at the greeting)',
    fault: { stage: 'greeting', reply: '554 5.3.2 Not available' },
    code: 'PROVIDER_UNAVAILABLE',
  },
];

describe.each(BACKENDS)('%s', (backendName) => {
  it.each(CAUSES)(
    '$cause found by instance A is skipped by instance B without a connection',
    async ({ fault, code }) => {
      const store = await (await started.get(backendName)!).fresh();
      // Same configuration on both instances but for the EHLO name, so the server can tell them apart.
      const instance = (ehloName: string) =>
        mailers.create(
          failoverConfig([ociSmtp('primary', tap, { ehloName }), ociSmtp('secondary', secondary, { ehloName })]),
          { store },
        );
      const a = instance('instance-a.example.com');
      primary.fault = fault;
      const found = await a.send(mail('instance-a'), { deadline: Date.now() + 10_000 });
      expect(steps(found.attempts)).toEqual([
        ['primary', 'failed', code],
        ['secondary', 'sent', undefined],
      ]);
      const connections = tap.connections;
      const authsBefore = primary.auths.length;

      const b = instance('instance-b.example.com');
      const skipped = await b.send(mail('instance-b'), { deadline: Date.now() + 10_000 });
      expect(steps(skipped.attempts)).toEqual([
        ['primary', 'skipped', undefined],
        ['secondary', 'sent', undefined],
      ]);
      expect(skipped.attempts?.[0]?.reason).toMatch(new RegExp(`^marked down: ${code}: `));
      expect(tap.connections).toBe(connections);
      expect(primary.auths).toHaveLength(authsBefore);
      expect(primary.auths.some((auth) => auth.ehlo === 'instance-b.example.com')).toBe(false);
      expect(secondary.auths.map((auth) => auth.ehlo).sort()).toEqual([
        'instance-a.example.com',
        'instance-b.example.com',
      ]);
      expect(copies(secondary, 'instance-a') + copies(secondary, 'instance-b')).toBe(2);
      expect(primary.received).toHaveLength(0);
    },
  );
});
