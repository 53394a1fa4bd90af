import { generateKeyPairSync, sign } from 'node:crypto';
import { auth, gmail } from '@googleapis/gmail';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  GMAIL_METADATA_SCOPE,
  GMAIL_READONLY_SCOPE,
  GMAIL_SEND_SCOPE,
  type GmailEmulator,
  GOOGLE_TOKEN_URL,
  startGmailEmulator,
} from '../../emulators/gmail/index.ts';

type Jwt = InstanceType<typeof auth.JWT>;

const SERVICE_ACCOUNT = 'mailroute@project.iam.gserviceaccount.com';
const SENDER = 'sender@example.com';
const OTHER_USER = 'other@example.com';
const rsa = () =>
  generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
const serviceAccountKey = rsa();
const otherKey = rsa();

const mime = (subject: string, body = 'Grüße aus dem Emulator.') =>
  `From: ${SENDER}\r\nTo: rcpt@example.net\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@example.com>\r\n` +
  `MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${body}\r\n`;

/**
 * google-auth-library 11 posts JWT assertions to the fixed https://oauth2.googleapis.com/token. Its
 * request interceptors run after gaxios has turned `url` into a URL object, just before fetch: swap it there.
 * (A proxy agent, if HTTPS_PROXY is set, was already chosen for the Google URL; set NO_PROXY=127.0.0.1.)
 */
function redirectTokenRequests(client: Jwt, tokenUrl: string): void {
  client.transporter.interceptors.request.add({
    resolved: async (config) => {
      if (config.url.toString() === GOOGLE_TOKEN_URL) config.url = new URL(tokenUrl);
      return config;
    },
  });
}

let emulator: GmailEmulator;

function jwtFor(subject: string, privateKey = serviceAccountKey.privateKey, scopes = [GMAIL_SEND_SCOPE]): Jwt {
  const jwt = new auth.JWT({ email: SERVICE_ACCOUNT, key: privateKey, scopes, subject });
  redirectTokenRequests(jwt, emulator.tokenUrl);
  return jwt;
}
const clientFor = (jwt: Jwt) => gmail({ version: 'v1', auth: jwt, rootUrl: `${emulator.url}/` });
const rawOf = (text: string) => Buffer.from(text).toString('base64url');
/** users.messages.send on the JSON path, `{"raw": base64url MIME}`. */
const sendJsonPath = (jwt: Jwt, subject: string, userId = 'me') =>
  clientFor(jwt).users.messages.send({ userId, requestBody: { raw: rawOf(mime(subject)) } });

function assertion(claims: Record<string, unknown>, privateKey = serviceAccountKey.privateKey): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${encode({ alg: 'RS256', typ: 'JWT' })}.${encode(claims)}`;
  return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
}
const postToken = (jwt: string) =>
  fetch(emulator.tokenUrl, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: jwt }),
  });

beforeAll(async () => {
  emulator = await startGmailEmulator({
    port: 0,
    serviceAccounts: [{ clientEmail: SERVICE_ACCOUNT, publicKeyPem: serviceAccountKey.publicKey }],
    delegatedUsers: [SENDER, OTHER_USER],
  });
});
afterAll(() => emulator.close());
beforeEach(() => emulator.reset());

describe('Gmail emulator with the real @googleapis/gmail client', () => {
  it('stores the exact MIME sent as {"raw"} and answers a Message resource', async () => {
    const sent = mime('json-path');
    const res = await clientFor(jwtFor(SENDER)).users.messages.send({
      userId: 'me',
      requestBody: { raw: rawOf(sent) },
    });
    expect(res.status).toBe(200);
    expect(res.data).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{16}$/),
      threadId: res.data.id,
      labelIds: ['SENT'],
    });
    expect(emulator.store).toHaveLength(1);
    const [stored] = emulator.store;
    expect(stored!.raw.equals(Buffer.from(sent))).toBe(true);
    expect(stored).toMatchObject({ user: SENDER, uploadType: 'json', headers: { subject: 'json-path' } });
    const overHttp = (await (await fetch(`${emulator.url}/_emulator/store`)).json()) as { messages: { raw: string }[] };
    expect(Buffer.from(overHttp.messages[0]!.raw, 'base64').toString()).toBe(sent);
  });

  it('takes media and multipart uploads when rootUrl is also given per call', async () => {
    const client = clientFor(jwtFor(SENDER));
    const rootUrl = `${emulator.url}/`;
    const media = mime('media-upload');
    await client.users.messages.send(
      { userId: SENDER, media: { mimeType: 'message/rfc822', body: media } },
      { rootUrl },
    );
    const multipart = mime('multipart-upload');
    const res = await client.users.messages.send(
      { userId: 'me', requestBody: { threadId: 'thread-42' }, media: { mimeType: 'message/rfc822', body: multipart } },
      { rootUrl },
    );
    expect(res.data.threadId).toBe('thread-42');
    expect(emulator.store.map((m) => m.uploadType)).toEqual(['media', 'multipart']);
    expect(emulator.store[0]!.raw.toString()).toBe(media);
    expect(emulator.store[1]!.raw.toString()).toBe(multipart);
  });

  it('pitfall: a client-level rootUrl does not redirect the media upload URL', async () => {
    const jwt = jwtFor(SENDER);
    const seen: string[] = [];
    jwt.transporter.interceptors.request.add({
      resolved: async (config) => {
        seen.push(config.url.toString());
        if (config.url.toString().startsWith('https://gmail.googleapis.com/')) throw new Error('would leave loopback');
        return config;
      },
    });
    const media = { mimeType: 'message/rfc822', body: mime('pitfall') };
    await expect(clientFor(jwt).users.messages.send({ userId: 'me', media })).rejects.toThrow('would leave loopback');
    expect(seen.at(-1)).toMatch(/^https:\/\/gmail\.googleapis\.com\/upload\/gmail\/v1\/users\/me\/messages\/send\?/);
  });
});

describe('OAuth token endpoint', () => {
  it('refuses an assertion signed with the wrong private key (400 invalid_grant)', async () => {
    const call = sendJsonPath(jwtFor(SENDER, otherKey.privateKey), 'bad-key');
    await expect(call).rejects.toMatchObject({ status: 400, message: 'invalid_grant: Invalid JWT Signature.' });
    expect(emulator.store).toHaveLength(0);
  });

  it('refuses a subject that is not delegated (401 unauthorized_client)', async () => {
    const call = sendJsonPath(jwtFor('intruder@example.com'), 'x');
    await expect(call).rejects.toMatchObject({ status: 401, message: expect.stringMatching(/^unauthorized_client: /) });
  });

  it('checks lifetime, audience and scope of hand-made assertions', async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: SERVICE_ACCOUNT,
      sub: SENDER,
      scope: GMAIL_SEND_SCOPE,
      aud: GOOGLE_TOKEN_URL,
      iat: now,
      exp: now + 3600,
    };
    const ok = await postToken(assertion(claims));
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({
      access_token: expect.stringMatching(/^ya29\./),
      expires_in: 3599,
      token_type: 'Bearer',
    });
    const cases: [Record<string, unknown>, number, string][] = [
      [{ ...claims, iat: now - 7200, exp: now - 3600 }, 400, 'invalid_grant'],
      [{ ...claims, exp: now + 7200 }, 400, 'invalid_grant'],
      [{ ...claims, aud: 'https://example.com/token' }, 400, 'invalid_grant'],
      [{ ...claims, iss: 'nobody@project.iam.gserviceaccount.com' }, 400, 'invalid_grant'],
      [{ ...claims, scope: '' }, 400, 'invalid_scope'],
      [{ ...claims, scope: 'https://mail.google.com/' }, 401, 'unauthorized_client'],
    ];
    for (const [bad, status, error] of cases) {
      const res = await postToken(assertion(bad));
      expect([res.status, ((await res.json()) as { error: string }).error]).toEqual([status, error]);
    }
  });
});

describe('bearer tokens and the send path', () => {
  it('answers 401 in Google error JSON for a missing, unknown or expired token', async () => {
    const send = (headers: Record<string, string>) =>
      fetch(`${emulator.url}/gmail/v1/users/me/messages/send`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ raw: rawOf(mime('t')) }),
      });
    const missing = await send({});
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({
      error: { code: 401, status: 'UNAUTHENTICATED', errors: [{ reason: 'required' }] },
    });
    const unknown = await send({ authorization: 'Bearer ya29.not-issued' });
    expect(unknown.headers.get('www-authenticate')).toContain('invalid_token');
    expect(await unknown.json()).toMatchObject({
      error: { code: 401, status: 'UNAUTHENTICATED', errors: [{ reason: 'authError' }] },
    });

    const jwt = jwtFor(SENDER);
    const { token } = await jwt.getAccessToken();
    expect((await send({ authorization: `Bearer ${token}` })).status).toBe(200);
    emulator.expireTokens();
    expect((await send({ authorization: `Bearer ${token}` })).status).toBe(401);
    // The SDK holds the token until its own expiry_date, so a server-side expiry reaches the caller as 401.
    const call = sendJsonPath(jwt, 't');
    await expect(call).rejects.toMatchObject({ status: 401 });
  });

  it('refuses a userId other than me or the token subject (403)', async () => {
    const call = sendJsonPath(jwtFor(SENDER), 'x', 'other@example.com');
    await expect(call).rejects.toMatchObject({ status: 403, message: `Delegation denied for ${SENDER}` });
  });

  it('enforces the discovery document: path shape, upload protocol, media type, maxSize 36700160', async () => {
    const { token } = await jwtFor(SENDER).getAccessToken();
    const post = (path: string, contentType: string, body: string | Uint8Array<ArrayBuffer>) =>
      fetch(`${emulator.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': contentType },
        body,
      });
    const upload = '/upload/gmail/v1/users/me/messages/send';
    expect((await post('/gmail/v1/users/me/messages/sendx', 'application/json', '{}')).status).toBe(404);
    expect((await post('/gmail/v1/me/messages/send', 'application/json', '{}')).status).toBe(404);
    const noRaw = await post('/gmail/v1/users/me/messages/send', 'application/json', '{}');
    expect(await noRaw.json()).toMatchObject({
      error: { code: 400, message: expect.stringContaining("'raw' RFC822 payload") },
    });
    expect((await post(upload, 'message/rfc822', mime('no-upload-type'))).status).toBe(400);
    expect((await post(`${upload}?uploadType=media`, 'text/plain', mime('wrong-type'))).status).toBe(400);
    const noRecipient = await post(`${upload}?uploadType=media`, 'message/rfc822', 'Subject: x\r\n\r\nbody');
    expect(await noRecipient.json()).toMatchObject({ error: { code: 400, message: 'Recipient address required' } });
    const oversize = await post(`${upload}?uploadType=media`, 'message/rfc822', Buffer.alloc(36_700_161, 'a'));
    expect(oversize.status).toBe(413);
    expect(await oversize.json()).toMatchObject({ error: { code: 413, message: 'Request Entity Too Large' } });
    expect(emulator.store).toHaveLength(0);
  });
});

describe('fault injection', () => {
  const sendOnce = (subject = 'fault') => sendJsonPath(jwtFor(SENDER), subject);

  it.each([
    [{ status: 429, retryAfter: 7 }, 429, 'rateLimitExceeded', 'RESOURCE_EXHAUSTED'],
    [{ errorCode: 'userRateLimitExceeded' }, 403, 'userRateLimitExceeded', 'PERMISSION_DENIED'],
    [{ errorCode: 'rateLimitExceeded' }, 403, 'rateLimitExceeded', 'PERMISSION_DENIED'],
    [{ status: 500 }, 500, 'backendError', 'INTERNAL'],
    [{ status: 503 }, 503, 'backendError', 'UNAVAILABLE'],
  ])('plays %j to the SDK as %i %s', async (fault, status, reason, rpcStatus) => {
    emulator.faults.add({ ...fault, pathIncludes: '/messages/send' });
    const error = await sendOnce().catch((e: unknown) => e);
    expect(error).toMatchObject({
      status,
      response: { data: { error: { code: status, status: rpcStatus, errors: [{ reason }] } } },
    });
    const headers = (error as { response: { headers: Headers } }).response.headers;
    expect(headers.get('retry-after')).toBe('retryAfter' in fault ? '7' : null);
    expect(emulator.store).toHaveLength(0);
    await expect(sendOnce()).resolves.toMatchObject({ status: 200 });
  });

  it('delays, drops, and plays a fraction; faults also arrive over HTTP', async () => {
    emulator.faults.add({ latencyMs: 300, pathIncludes: '/messages/send' });
    // Elapsed time on the monotonic clock (the timers'), which no adjustment of the wall clock moves.
    const started = performance.now();
    await sendOnce('slow');
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);

    emulator.faults.add({ drop: true, pathIncludes: '/messages/send' });
    const dropped = await sendOnce('dropped').catch((e: unknown) => e);
    expect(dropped).toBeInstanceOf(Error);
    expect((dropped as { status?: number }).status).toBeUndefined();

    const armed = await fetch(`${emulator.url}/_emulator/faults`, {
      method: 'POST',
      body: JSON.stringify({ status: 500, fraction: 1, pathIncludes: '/messages/send' }),
    });
    expect(armed.status).toBe(200);
    await expect(sendOnce()).rejects.toMatchObject({ status: 500 });
    await expect(sendOnce()).rejects.toMatchObject({ status: 500 });
    await fetch(`${emulator.url}/_emulator/reset`, { method: 'POST' });
    await expect(sendOnce('after-reset')).resolves.toMatchObject({ status: 200 });
    expect(emulator.store.map((m) => m.headers.subject)).toEqual(['after-reset']);
  });

  it('hang: the send is never answered, the connection held until the client gives up; nothing stored', async () => {
    emulator.faults.add({ hang: true, pathIncludes: '/messages/send' });
    const url = `${emulator.url}/gmail/v1/users/me/messages/send`;
    const gaveUp = await fetch(url, { method: 'POST', body: '{}', signal: AbortSignal.timeout(300) }).then(
      () => 'answered',
      (error: Error) => error.name,
    );
    expect(gaveUp).toBe('TimeoutError');
    expect(emulator.store).toHaveLength(0);
    await expect(sendOnce('after-hang')).resolves.toMatchObject({ status: 200 });
  });

  it('google-auth-library retries a failed token POST by itself (a token fault alone does not fail the send)', async () => {
    emulator.faults.add({ status: 503, pathIncludes: '/token' });
    await expect(sendOnce('token-retry')).resolves.toMatchObject({ status: 200 });
    expect(emulator.faults.take('/token')).toBeUndefined();
  });
});

describe('users.messages.list, scopes and delegation', () => {
  const reader = (subject = SENDER) => jwtFor(subject, undefined, [GMAIL_READONLY_SCOPE]);
  const list = (jwt: Jwt, params: { q?: string; labelIds?: string[]; maxResults?: number; pageToken?: string }) =>
    // retry: false, or the client would retry the 501 below with backoff.
    clientFor(jwt).users.messages.list({ userId: 'me', ...params }, { retry: false });
  const grant = (...scopes: string[]) => emulator.setDelegatedScopes([GMAIL_SEND_SCOPE, ...scopes]);
  afterEach(() => emulator.setDelegatedScopes([GMAIL_SEND_SCOPE]));

  it('finds a sent message by rfc822msgid (angle brackets optional) in the discovery shape, in its sender mailbox only', async () => {
    grant(GMAIL_READONLY_SCOPE);
    const first = await sendJsonPath(jwtFor(SENDER), 'list-a');
    const second = await sendJsonPath(jwtFor(SENDER), 'list-b');
    // The same Message-ID sent from another mailbox is not the sender's.
    await sendJsonPath(jwtFor(OTHER_USER), 'list-a');
    for (const q of ['rfc822msgid:<list-a@example.com>', 'rfc822msgid:list-a@example.com']) {
      const res = await list(reader(), { q });
      expect(res.data).toEqual({
        messages: [{ id: first.data.id, threadId: first.data.threadId }],
        resultSizeEstimate: 1,
      });
    }
    // No `messages` key at all when nothing matched, as Gmail answers.
    expect((await list(reader(), { q: 'rfc822msgid:<nothing@example.com>' })).data).toEqual({ resultSizeEstimate: 0 });

    const page = await list(reader(), { labelIds: ['SENT'], maxResults: 1 });
    expect(page.data).toEqual({
      messages: [{ id: second.data.id, threadId: second.data.threadId }],
      nextPageToken: expect.any(String),
      resultSizeEstimate: 2,
    });
    const next = await list(reader(), { labelIds: ['SENT'], maxResults: 1, pageToken: page.data.nextPageToken! });
    expect(next.data.messages).toEqual([{ id: first.data.id, threadId: first.data.threadId }]);
    expect((await list(reader(), { labelIds: ['INBOX'] })).data).toEqual({ resultSizeEstimate: 0 });

    const now = Math.floor(Date.now() / 1000);
    expect((await list(reader(), { q: `in:sent after:${now - 60}` })).data.resultSizeEstimate).toBe(2);
    expect((await list(reader(), { q: `in:sent after:${now + 60}` })).data).toEqual({ resultSizeEstimate: 0 });
    expect((await list(reader(OTHER_USER), { q: 'rfc822msgid:list-b@example.com' })).data.resultSizeEstimate).toBe(0);
  });

  it('refuses a token with no list scope (gmail.send only) with 403 insufficientPermissions; readonly cannot send', async () => {
    grant(GMAIL_READONLY_SCOPE);
    const error = await list(jwtFor(SENDER), { q: 'rfc822msgid:x@example.com' }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      status: 403,
      response: {
        data: {
          error: {
            code: 403,
            message: 'Request had insufficient authentication scopes.',
            status: 'PERMISSION_DENIED',
            errors: [{ reason: 'insufficientPermissions', message: 'Insufficient Permission', domain: 'global' }],
            details: [{ reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT', metadata: { service: 'gmail.googleapis.com' } }],
          },
        },
      },
    });
    await expect(sendJsonPath(reader(), 'read-only')).rejects.toMatchObject({ status: 403 });
    expect(emulator.store).toHaveLength(0);
  });

  it("answers q from a gmail.metadata token with Google's 403, even next to gmail.readonly", async () => {
    grant(GMAIL_READONLY_SCOPE, GMAIL_METADATA_SCOPE);
    await sendJsonPath(jwtFor(SENDER), 'metadata');
    const metadata = jwtFor(SENDER, undefined, [GMAIL_METADATA_SCOPE]);
    expect((await list(metadata, {})).data.resultSizeEstimate).toBe(1);
    const refusal = {
      status: 403,
      response: {
        data: {
          error: {
            code: 403,
            message: "Metadata scope does not support 'q' parameter",
            status: 'PERMISSION_DENIED',
            errors: [{ reason: 'forbidden', domain: 'global' }],
          },
        },
      },
    };
    await expect(list(metadata, { q: 'rfc822msgid:metadata@example.com' })).rejects.toMatchObject(refusal);
    const both = jwtFor(SENDER, undefined, [GMAIL_READONLY_SCOPE, GMAIL_METADATA_SCOPE]);
    await expect(list(both, { q: 'rfc822msgid:metadata@example.com' })).rejects.toMatchObject(refusal);
  });

  it('issues tokens for the assertion scopes, and refuses one the delegation does not grant (401 unauthorized_client)', async () => {
    const unauthorized = { status: 401, message: expect.stringMatching(/^unauthorized_client: /) };
    await expect(reader().getAccessToken()).rejects.toMatchObject(unauthorized);
    // One scope not granted refuses the whole request, a granted one alongside it included.
    const sendAndRead = () => jwtFor(SENDER, undefined, [GMAIL_SEND_SCOPE, GMAIL_READONLY_SCOPE]);
    await expect(sendAndRead().getAccessToken()).rejects.toMatchObject(unauthorized);

    grant(GMAIL_READONLY_SCOPE);
    const jwt = sendAndRead();
    await sendJsonPath(jwt, 'two-scopes');
    expect((await list(jwt, { q: 'rfc822msgid:two-scopes@example.com' })).data.resultSizeEstimate).toBe(1);
  });

  it('refuses a search term it does not implement (501) instead of ignoring it', async () => {
    grant(GMAIL_READONLY_SCOPE);
    await expect(list(reader(), { q: 'subject:hello' })).rejects.toMatchObject({ status: 501 });
    await expect(list(reader(), { q: 'after:2026/01/01' })).rejects.toMatchObject({ status: 501 });
  });

  it('dropAfter on send: the message is stored, then the connection dropped without an answer', async () => {
    emulator.faults.add({ dropAfter: true, pathIncludes: '/messages/send' });
    const error = await sendJsonPath(jwtFor(SENDER), 'dropped-after').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as { status?: number }).status).toBeUndefined();
    expect(emulator.store.map((m) => m.headers.subject)).toEqual(['dropped-after']);
  });
});
