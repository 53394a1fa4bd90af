import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventRejectedError, TransientError } from '../../core/errors.ts';
import { confirmSubscription, type SnsEnvelope, snsMessage, verifySnsEnvelope } from '../../core/events/sns.ts';
import { sesEvents } from '../../core/events/sources/ses.ts';
import { type SnsSigner, startSnsSigner } from '../helpers/sns-signer.ts';

// Real signatures, checked against a certificate fetched over HTTPS: the signer serves it on 127.0.0.1 under
// sns.us-east-1.amazonaws.com, and only its agent (resolving that host to loopback, trusting the test CA) reaches it.
let signer: SnsSigner;
let options: { topicArns: string[]; requestAgent: import('node:https').Agent };

beforeAll(async () => {
  signer = await startSnsSigner();
  options = { topicArns: [signer.topicArn], requestAgent: signer.agent };
});

afterAll(async () => {
  await signer?.stop();
});

const bounceRecord = {
  eventType: 'Bounce',
  mail: { messageId: 'ses-id-1', timestamp: '2026-03-01T10:00:00.000Z', destination: ['ana@example.com'] },
  bounce: {
    bounceType: 'Permanent',
    bounceSubType: 'General',
    bouncedRecipients: [{ emailAddress: 'ana@example.com', status: '5.1.1' }],
    timestamp: '2026-03-01T10:00:02.000Z',
  },
};

function notification(extra: Record<string, string> = {}) {
  return { Type: 'Notification', Message: JSON.stringify(bounceRecord), ...extra };
}

function confirmation(subscribeUrl: string, type = 'SubscriptionConfirmation') {
  return {
    Type: type,
    Message: `You have chosen to subscribe to the topic ${signer.topicArn}.`,
    Token: '2336412f37fb687f5d51e6e2425f004aed9a3a4e2e8b0c0d',
    SubscribeURL: subscribeUrl,
  };
}

const subscribeUrl = () =>
  `https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=${encodeURIComponent(signer.topicArn)}&Token=2336412f37fb687f5d51e6e2425f004aed9a3a4e2e8b0c0d`;

async function refusal(promise: Promise<unknown>): Promise<EventRejectedError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EventRejectedError);
  return error as EventRejectedError;
}

/** A fetch that records every call and answers 200, as SNS's ConfirmSubscription does. */
function countingFetch(status = 200) {
  const calls: { url: string; method: string | undefined }[] = [];
  const fake = (async (input: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(input), method: init?.method });
    return new Response('<ConfirmSubscriptionResponse/>', { status });
  }) as typeof fetch;
  return { fetch: fake, calls };
}

describe('verifySnsEnvelope', () => {
  it('verifies signature version 1 and 2 notifications and returns the envelope unchanged', async () => {
    for (const version of ['1', '2'] as const) {
      const envelope = signer.sign(notification({ Subject: 'Amazon SES Email Event Notification' }), { version });
      const copy = structuredClone(envelope);
      const verified = await verifySnsEnvelope(envelope, options);
      expect(verified).toBe(envelope);
      expect(envelope).toEqual(copy);
      expect(verified.SignatureVersion).toBe(version);
    }
  });

  it('fetches the signing certificate once, then uses its cache', async () => {
    await verifySnsEnvelope(signer.sign(notification()), options);
    const fetched = signer.certRequests;
    expect(fetched).toBeGreaterThanOrEqual(1);
    await verifySnsEnvelope(signer.sign(notification()), options);
    await verifySnsEnvelope(signer.sign(notification(), { version: '1' }), options);
    expect(signer.certRequests).toBe(fetched);
  });

  it('takes the Lambda record spelling (SigningCertUrl, Subject null) and a Lambda Subject', async () => {
    const lambda = signer.sign(notification(), { lambda: true });
    expect(lambda).toMatchObject({ Subject: null, SigningCertUrl: signer.certUrl });
    expect(lambda).not.toHaveProperty('SigningCertURL');
    await expect(verifySnsEnvelope(lambda, options)).resolves.toBe(lambda);
    const withSubject = signer.sign(notification({ Subject: 'bounce' }), { lambda: true, version: '1' });
    await expect(verifySnsEnvelope(withSubject, options)).resolves.toBe(withSubject);
  });

  it('refuses a tampered Message, Subject or Timestamp: the signature does not verify (403)', async () => {
    const envelope = signer.sign(notification({ Subject: 'original' }));
    const tampered = [
      { ...envelope, Message: JSON.stringify({ ...bounceRecord, eventType: 'Delivery' }) },
      { ...envelope, Subject: 'changed' },
      { ...envelope, Timestamp: '2020-01-01T00:00:00.000Z' },
    ];
    for (const each of tampered) {
      const error = await refusal(verifySnsEnvelope(each, options));
      expect([error.status, error.message]).toEqual([403, 'ses event refused: signature does not verify']);
    }
    await expect(verifySnsEnvelope(envelope, options)).resolves.toBe(envelope);
  });

  it('refuses a signature made with another key (403)', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    for (const version of ['1', '2'] as const) {
      const error = await refusal(
        verifySnsEnvelope(signer.sign(notification(), { key: privateKey, version }), options),
      );
      expect(error.status).toBe(403);
      expect(error.message).toContain('signature does not verify');
    }
    const garbage = { ...signer.sign(notification()), Signature: 'not base64 at all!' };
    expect((await refusal(verifySnsEnvelope(garbage, options))).status).toBe(403);
  });

  it('refuses a topic off the allowlist (403) before fetching anything, and every topic when the list is empty', async () => {
    const before = signer.requests.length;
    const other = signer.sign({ ...notification(), TopicArn: 'arn:aws:sns:us-east-1:123456789012:someone-else' });
    const error = await refusal(verifySnsEnvelope(other, options));
    expect(error.status).toBe(403);
    expect(error.message).toContain('arn:aws:sns:us-east-1:123456789012:someone-else');
    const empty = await refusal(verifySnsEnvelope(signer.sign(notification()), { ...options, topicArns: [] }));
    expect(empty.status).toBe(403);
    expect(empty.message).toContain('events.sns.topicArns');
    expect(signer.requests.length).toBe(before);
  });

  it('refuses a certificate URL off AWS, over http, or not an SNS certificate path (403) without fetching it', async () => {
    const before = signer.requests.length;
    const name = signer.certUrl.slice(signer.certUrl.lastIndexOf('/'));
    const urls = [
      `https://evil.example${name}`,
      `http://sns.us-east-1.amazonaws.com${name}`,
      `https://sns.us-east-1.amazonaws.com.evil.example${name}`,
      `https://sns.us-east-1.amazonaws.com:8443${name}`,
      'https://sns.us-east-1.amazonaws.com/evil.pem',
    ];
    for (const url of urls) {
      const error = await refusal(verifySnsEnvelope(signer.sign(notification(), { certUrl: url }), options));
      expect([error.status, error.message]).toEqual([
        403,
        `ses event refused: signing certificate URL is not an AWS SNS host: ${url}`,
      ]);
    }
    expect(signer.requests.length).toBe(before);
  });

  it('refuses an unknown Type, a non-object and missing fields (400), an unknown SignatureVersion (403)', async () => {
    const valid = signer.sign(notification());
    const cases: [unknown, number][] = [
      [{ ...valid, Type: 'Unknown' }, 400],
      [{ ...valid, Type: undefined }, 400],
      [null, 400],
      ['{"Type":"Notification"}', 400],
      [[valid], 400],
      [{ ...valid, Signature: undefined }, 400],
      [{ ...valid, Message: { eventType: 'Bounce' } }, 400],
      [{ ...valid, SigningCertURL: undefined }, 400],
      [{ ...signer.sign(confirmation(subscribeUrl())), Token: undefined }, 400],
      [{ ...valid, SignatureVersion: '3' }, 403],
    ];
    for (const [input, status] of cases) {
      const error = await refusal(verifySnsEnvelope(input, options));
      expect(error.status, JSON.stringify(input)?.slice(0, 80)).toBe(status);
    }
  });

  it('checks the certificate server over TLS: one it cannot trust is a passing fault, not a verification', async () => {
    const untrusted = signer.agentTrusting(undefined);
    const error = await verifySnsEnvelope(signer.sign(notification()), { ...options, requestAgent: untrusted }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toContain('could not fetch the SNS signing certificate');
  });

  it('a certificate URL answered with an error page is a passing fault, fetched again next time', async () => {
    const missing = signer.certUrl.replace(/[0-9a-f]{32}\.pem$/, `${'0'.repeat(32)}.pem`);
    const path = new URL(missing).pathname;
    for (let attempt = 1; attempt <= 2; attempt++) {
      const error = await verifySnsEnvelope(signer.sign(notification(), { certUrl: missing }), options).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(TransientError);
      expect(signer.requests.filter((p) => p === path)).toHaveLength(attempt);
    }
  });
});

describe('confirmSubscription', () => {
  it('visits the SubscribeURL of a verified SubscriptionConfirmation exactly once', async () => {
    const url = subscribeUrl();
    const envelope = await verifySnsEnvelope(signer.sign(confirmation(url), { version: '1' }), options);
    const counting = countingFetch();
    await expect(confirmSubscription(envelope, { fetch: counting.fetch })).resolves.toEqual({
      confirmed: true,
      topicArn: signer.topicArn,
    });
    expect(counting.calls).toEqual([{ url, method: 'GET' }]);
  });

  it('refuses a SubscribeURL off AWS (403) and visits nothing', async () => {
    const urls = [
      'https://evil.example/?Action=ConfirmSubscription&Token=1',
      'http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=1',
      'https://sns.us-east-1.amazonaws.com.evil.example/?Action=ConfirmSubscription',
      'https://sns.us-east-1.amazonaws.com:8443/?Action=ConfirmSubscription',
      'https://user@sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription',
      'not a url',
    ];
    for (const url of urls) {
      // Signed correctly: the URL is refused for where it points, not for its signature.
      const envelope = await verifySnsEnvelope(signer.sign(confirmation(url)), options);
      const counting = countingFetch();
      const error = await refusal(confirmSubscription(envelope, { fetch: counting.fetch }));
      expect(error.status, url).toBe(403);
      expect(error.message).toContain('SubscribeURL is not on an AWS SNS host');
      expect(counting.calls).toEqual([]);
    }
  });

  it('acknowledges an UnsubscribeConfirmation without visiting anything', async () => {
    const envelope = await verifySnsEnvelope(
      signer.sign(confirmation(subscribeUrl(), 'UnsubscribeConfirmation')),
      options,
    );
    const counting = countingFetch();
    await expect(confirmSubscription(envelope, { fetch: counting.fetch })).resolves.toEqual({
      confirmed: false,
      topicArn: signer.topicArn,
    });
    expect(counting.calls).toEqual([]);
  });

  it('a SubscribeURL that does not answer 2xx is a passing fault; a Notification is no confirmation (400)', async () => {
    const envelope = await verifySnsEnvelope(signer.sign(confirmation(subscribeUrl())), options);
    const failing = countingFetch(500);
    await expect(confirmSubscription(envelope, { fetch: failing.fetch })).rejects.toBeInstanceOf(TransientError);
    expect(failing.calls).toHaveLength(1);
    const note = await verifySnsEnvelope(signer.sign(notification()), options);
    const counting = countingFetch();
    expect((await refusal(confirmSubscription(note, { fetch: counting.fetch }))).status).toBe(400);
    expect(counting.calls).toEqual([]);
  });
});

describe('snsMessage', () => {
  it('gives the parsed Message of a verified notification: SES events come out of it', async () => {
    const envelope = await verifySnsEnvelope(signer.sign(notification()), options);
    const message = snsMessage(envelope);
    expect(message).toEqual(bounceRecord);
    expect(sesEvents(message)).toEqual([
      expect.objectContaining({
        type: 'bounced',
        recipient: 'ana@example.com',
        bounceType: 'hard',
        providerMessageId: 'ses-id-1',
      }),
    ]);
  });

  it('refuses a Message that is not JSON, and a confirmation, with a 400', async () => {
    const notJson = await verifySnsEnvelope(signer.sign({ Type: 'Notification', Message: 'Hello world!' }), options);
    expect(() => snsMessage(notJson)).toThrow(EventRejectedError);
    const confirm = (await verifySnsEnvelope(signer.sign(confirmation(subscribeUrl())), options)) as SnsEnvelope;
    for (const envelope of [notJson, confirm]) {
      try {
        snsMessage(envelope);
        expect.unreachable();
      } catch (error) {
        expect((error as EventRejectedError).status).toBe(400);
      }
    }
  });
});
