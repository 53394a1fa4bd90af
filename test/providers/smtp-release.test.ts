import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SmtpEngine } from '../../providers/smtp/engine.ts';
import { startTestSmtpServer, TEST_CA, type TestSmtpServer } from '../helpers/smtp-test-server.ts';

// A pooled connection must not keep the message it was opened for: nodemailer's pool keeps the first message of
// each connection reachable from the connection's handlers until it closes, so one large send would stay in memory
// for the life of the connection (in `mailroute serve`, for as long as the server runs).

/** V8's full collection, taken from a context made while --expose-gc is on. */
function fullGc(): () => void {
  setFlagsFromString('--expose-gc');
  try {
    return runInNewContext('gc') as () => void;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}

let server: TestSmtpServer;
beforeAll(async () => {
  server = await startTestSmtpServer({ authOptional: true });
});
afterAll(async () => {
  await server.close();
});

describe('the SMTP engine lets go of a message once it is sent', () => {
  it('the raw message is collectable while the pooled connection stays open', async () => {
    const engine = new SmtpEngine({
      provider: 'test',
      host: server.host,
      port: server.port,
      ca: TEST_CA,
      servername: 'localhost',
    });
    const gc = fullGc();
    let ref: WeakRef<Buffer> | undefined;
    await (async () => {
      const raw = Buffer.from(
        `From: a@example.com\r\nTo: b@example.com\r\nSubject: big\r\n\r\n${'x'.repeat(1 << 20)}\r\n`,
      );
      ref = new WeakRef(raw);
      await engine.send(raw, { from: 'a@example.com', to: ['b@example.com'] });
    })();
    expect(server.received).toHaveLength(1);
    expect(server.openConnections()).toBe(1); // the pool keeps its connection for the next message
    // WeakRef targets live to the end of the job that made them: collect on a later turn.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    expect(ref?.deref()).toBeUndefined();
    await engine.close();
  });
});
