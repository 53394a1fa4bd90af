import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type LocalApi, startLocalApi } from '../../cli/serve.ts';
import { validateConfig } from '../../core/config/config.ts';
import { looksLikeJwt } from '../../core/events/entra.ts';
import { type EventRequest, ingestEvents } from '../../core/events/intake.ts';
import { Mailer } from '../../core/mailer.ts';
import { builtInProviders, createAdapter } from '../../providers/index.ts';
import { MemoryStore } from '../../stores/memory.ts';

// Event Grid deliveries authenticated by Microsoft Entra (`events.eventGridEntra`): tokens signed by a key pair made
// here, whose JWKS is served over loopback HTTP in place of the tenant's keys endpoint.

const TENANT = '0b1c2d3e-4f50-4a6b-8c7d-8e9fa0b1c2d3';
const OTHER_TENANT = 'f0e1d2c3-b4a5-4968-8776-655443322110';
const AUDIENCE = 'api://mailroute-events';
const ROLE = 'AzureEventGridSecureWebhookSubscriber';
/** Event Grid's application in the Azure public cloud: the `appid`/`azp` of the tokens it sends. */
const EVENT_GRID_APP = '4962773b-9cdb-44cf-a8bf-237846a00ab7';
const KID = 'test-key-1';
const SECRET = 'entra-test-webhook-secret';

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

interface JwksServer {
  uri: string;
  hits: () => number;
  close: () => Promise<void>;
}

/** Serves `{ keys: [...] }` (or `body`) at `/<tenant>/discovery/v2.0/keys` on 127.0.0.1, counting the fetches. */
async function serveJwks(keys: object[], status = 200, body = JSON.stringify({ keys })): Promise<JwksServer> {
  let hits = 0;
  const server: Server = createServer((_req, res) => {
    hits += 1;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    uri: `http://127.0.0.1:${port}/${TENANT}/discovery/v2.0/keys`,
    hits: () => hits,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function publicJwk(pair: KeyPair, kid = KID) {
  return { ...(await exportJWK(pair.publicKey)), kid, alg: 'RS256', use: 'sig' };
}

const now = () => Math.floor(Date.now() / 1000);

interface TokenOptions {
  claims?: JWTPayload;
  key?: KeyPair;
  kid?: string;
  issuer?: string;
  audience?: string;
  /** Seconds from now. */
  expiresIn?: number;
}

/** A token as Entra issues it to Event Grid for the webhook's application (v2.0 issuer unless told). */
function tokenFor(signer: KeyPair) {
  return (options: TokenOptions = {}) => {
    const issued = now() - 60;
    return new SignJWT({
      tid: TENANT,
      appid: EVENT_GRID_APP,
      azp: EVENT_GRID_APP,
      oid: randomUUID(),
      sub: randomUUID(),
      roles: [ROLE],
      ver: '2.0',
      ...options.claims,
    })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: options.kid ?? KID })
      .setIssuer(options.issuer ?? `https://login.microsoftonline.com/${TENANT}/v2.0`)
      .setAudience(options.audience ?? AUDIENCE)
      .setIssuedAt(issued)
      .setNotBefore(issued)
      .setExpirationTime(now() + (options.expiresIn ?? 3600))
      .sign((options.key ?? signer).privateKey);
  };
}

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

const bounce = (recipient: string, messageId = `op-${randomUUID()}`) => [
  {
    id: randomUUID(),
    eventType: 'Microsoft.Communication.EmailDeliveryReportReceived',
    subject: `sender/app@example.com/message/${messageId}`,
    eventTime: '2026-12-01T10:00:00Z',
    dataVersion: '1.0',
    data: {
      sender: 'app@example.com',
      recipient,
      messageId,
      status: 'Bounced',
      deliveryStatusDetails: { statusMessage: '550 5.1.1 no such user' },
      deliveryAttemptTimeStamp: '2026-12-01T10:00:00Z',
    },
  },
];

interface World {
  mailer: Mailer;
  store: MemoryStore;
  /** Every record in the store: a refused request must leave it exactly as it was. */
  snapshot: () => Promise<string>;
}

function world(events: Record<string, unknown>): World {
  const store = new MemoryStore();
  const config = validateConfig(
    {
      providers: [{ name: 'local', provider: 'local', mode: 'api', outboxDir: '.mailroute/test-entra-outbox' }],
      events,
    },
    'test',
    builtInProviders,
  );
  const mailer = new Mailer(config, createAdapter, { providers: builtInProviders, store });
  return {
    mailer,
    store,
    snapshot: async () => JSON.stringify((await store.list!('')).records.map((r) => [r.key, r.value])),
  };
}

const post = (mailer: Mailer, body: unknown, request: Omit<EventRequest, 'body'> = {}) =>
  ingestEvents(mailer, 'acs', { body: JSON.stringify(body), ...request });
const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

let signer: KeyPair;
let stranger: KeyPair;
let jwks: JwksServer;
let token: ReturnType<typeof tokenFor>;
const worlds: World[] = [];
const servers: JwksServer[] = [];

function entraWorld(extra: Record<string, unknown> = {}, uri = jwks.uri): World {
  const w = world({ eventGridEntra: { tenantId: TENANT, audience: AUDIENCE, jwksUri: uri }, ...extra });
  worlds.push(w);
  return w;
}

beforeAll(async () => {
  signer = await generateKeyPair('RS256', { extractable: true });
  stranger = await generateKeyPair('RS256', { extractable: true });
  jwks = await serveJwks([await publicJwk(signer)]);
  servers.push(jwks);
  token = tokenFor(signer);
  vi.stubEnv('MR_ENTRA_TEST_SECRET', SECRET);
});
afterAll(async () => {
  for (const w of worlds) await w.mailer.close();
  for (const s of servers) await s.close();
  vi.unstubAllEnvs();
});

describe('events.eventGridEntra: Event Grid with a Microsoft Entra bearer token', () => {
  let entra: World;
  beforeAll(() => {
    entra = entraWorld();
  });

  it('applies an Event Grid batch with a valid token (v2.0 issuer)', async () => {
    const answer = await post(entra.mailer, bounce('entra-v2@example.org'), bearer(await token()));
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ ok: true, events: 1, suppressed: 1 });
    expect(await entra.mailer.events.suppressions.get('entra-v2@example.org')).toMatchObject({ provider: 'acs' });
  });

  it('takes a v1.0 token (sts.windows.net issuer, the default for an app registration) and tolerates clock skew', async () => {
    const v1 = await token({ issuer: `https://sts.windows.net/${TENANT}/`, claims: { ver: '1.0' } });
    expect((await post(entra.mailer, bounce('entra-v1@example.org'), bearer(v1))).status).toBe(200);
    const skewed = await token({ expiresIn: -120 });
    expect((await post(entra.mailer, bounce('entra-skew@example.org'), bearer(skewed))).status).toBe(200);
  });

  it('answers the subscription validation handshake when the token is good', async () => {
    const validation = [
      {
        id: 'v',
        eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent',
        subject: '',
        eventTime: '2026-12-01T10:00:00Z',
        dataVersion: '1',
        data: { validationCode: 'entra-code', validationUrl: 'https://rp-eastus2.eventgrid.azure.net/x' },
      },
    ];
    const answer = await post(entra.mailer, validation, bearer(await token()));
    expect(answer.body).toEqual({ validationResponse: 'entra-code' });
  });

  it.each<[string, () => Promise<string>, RegExp]>([
    ['an expired token', () => token({ expiresIn: -600 }), /has expired/],
    ['a token for another audience', () => token({ audience: 'api://someone-else' }), /another audience/],
    [
      'a token from another issuer',
      () => token({ issuer: 'https://login.example.com/evil/v2.0' }),
      /another issuer.*login\.example\.com/,
    ],
    [
      "a token of another tenant (that tenant's issuer)",
      () => token({ issuer: `https://login.microsoftonline.com/${OTHER_TENANT}/v2.0`, claims: { tid: OTHER_TENANT } }),
      /another issuer/,
    ],
    ['a token whose tid is another tenant', () => token({ claims: { tid: OTHER_TENANT } }), /another tenant/],
    ['a token without the app role', () => token({ claims: { roles: undefined } }), /lacks the app role/],
    ['a token with another app role', () => token({ claims: { roles: ['Reader'] } }), /lacks the app role/],
    ['a token signed by another key (same kid)', () => token({ key: stranger }), /signature does not verify/],
    [
      'a token signed by a key not in the JWKS',
      () => token({ key: stranger, kid: 'unknown-kid' }),
      /not among the tenant's signing keys/,
    ],
    [
      'an alg: none token',
      async () => {
        const payload = { iss: `https://login.microsoftonline.com/${TENANT}/v2.0`, aud: AUDIENCE, tid: TENANT };
        return `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...payload, roles: [ROLE], exp: now() + 3600 })}.`;
      },
      /algorithm "none" is not allowed/,
    ],
    [
      'an HS256 token keyed with a guess',
      () =>
        new SignJWT({ tid: TENANT, roles: [ROLE] })
          .setProtectedHeader({ alg: 'HS256', kid: KID })
          .setIssuer(`https://login.microsoftonline.com/${TENANT}/v2.0`)
          .setAudience(AUDIENCE)
          .setExpirationTime(now() + 3600)
          .sign(new TextEncoder().encode('a-guessed-secret-a-guessed-secret')),
      /algorithm "HS256" is not allowed/,
    ],
  ])('refuses %s with 401 and applies nothing', async (_, make, message) => {
    const before = await entra.snapshot();
    const victim = `victim-${randomUUID()}@example.org`;
    const attempt = post(entra.mailer, bounce(victim), bearer(await make()));
    await expect(attempt).rejects.toMatchObject({
      code: 'EVENT_REJECTED',
      source: 'acs',
      status: 401,
      message: expect.stringMatching(message),
    });
    expect(await entra.snapshot()).toBe(before);
    expect(await entra.mailer.events.suppressions.get(victim)).toBeUndefined();
  });

  it('refuses a request without a token, or with only a ?secret=, when no webhook secret is set', async () => {
    const before = await entra.snapshot();
    for (const request of [{}, { query: { secret: 'anything' } }, { headers: { authorization: 'Bearer not-a-jwt' } }]) {
      await expect(post(entra.mailer, bounce('victim@example.org'), request)).rejects.toMatchObject({
        status: 401,
        message: expect.stringMatching(/no Microsoft Entra bearer token/),
      });
    }
    expect(await entra.snapshot()).toBe(before);
  });

  it('is for Event Grid only: an OCI body with a good token still needs events.webhookSecret', async () => {
    const attempt = ingestEvents(entra.mailer, 'oci', { body: '[]', ...bearer(await token()) });
    await expect(attempt).rejects.toMatchObject({ status: 401, message: expect.stringMatching(/webhookSecret/) });
  });

  it('answers 401 through the HTTP route too', async () => {
    const api: LocalApi = await startLocalApi(entra.mailer);
    try {
      const response = await fetch(`${api.url}/v1/events/acs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await token({ expiresIn: -600 })}` },
        body: JSON.stringify(bounce('victim@example.org')),
      });
      expect(response.status).toBe(401);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('EVENT_REJECTED');
    } finally {
      await api.close();
    }
  });
});

describe('the JWKS', () => {
  it('is fetched once for many requests, good and bad', async () => {
    const own = await serveJwks([await publicJwk(signer)]);
    servers.push(own);
    const w = entraWorld({}, own.uri);
    expect(own.hits()).toBe(0);
    for (let i = 0; i < 4; i++) {
      expect((await post(w.mailer, bounce(`cached-${i}@example.org`), bearer(await token()))).status).toBe(200);
    }
    await expect(post(w.mailer, bounce('x@example.org'), bearer(await token({ key: stranger })))).rejects.toThrow(
      /signature/,
    );
    await expect(post(w.mailer, bounce('x@example.org'), bearer(await token({ expiresIn: -600 })))).rejects.toThrow(
      /expired/,
    );
    // A second mailer with the same jwksUri shares the key set.
    const again = entraWorld({}, own.uri);
    expect((await post(again.mailer, bounce('cached-again@example.org'), bearer(await token()))).status).toBe(200);
    expect(own.hits()).toBe(1);
  });

  it('that cannot be fetched is a passing fault (503: Event Grid delivers again), and nothing is applied', async () => {
    const gone = await serveJwks([]);
    await gone.close();
    const failing = await serveJwks([], 500);
    const garbled = await serveJwks([], 200, '<html>maintenance</html>');
    servers.push(failing, garbled);
    for (const uri of [gone.uri, failing.uri, garbled.uri]) {
      const w = entraWorld({}, uri);
      await expect(post(w.mailer, bounce('victim@example.org'), bearer(await token()))).rejects.toMatchObject({
        code: 'TRANSIENT',
        message: expect.stringMatching(/could not fetch the Entra signing keys/),
      });
      expect(await w.snapshot()).toBe('[]');
    }
  });
});

describe('beside events.webhookSecret', () => {
  let both: World;
  beforeAll(() => {
    both = entraWorld({ webhookSecret: { env: 'MR_ENTRA_TEST_SECRET' } });
  });

  it('the secret still works, in the URL or as a bearer that is not a JWT; so does a good token', async () => {
    expect((await post(both.mailer, bounce('both-1@example.org'), { query: { secret: SECRET } })).status).toBe(200);
    expect((await post(both.mailer, bounce('both-2@example.org'), bearer(SECRET))).status).toBe(200);
    expect((await post(both.mailer, bounce('both-3@example.org'), bearer(await token()))).status).toBe(200);
  });

  it('a bad token is refused even with the right ?secret=, and a wrong secret is refused', async () => {
    const before = await both.snapshot();
    await expect(
      post(both.mailer, bounce('victim@example.org'), {
        query: { secret: SECRET },
        ...bearer(await token({ audience: 'api://someone-else' })),
      }),
    ).rejects.toMatchObject({ status: 401, message: expect.stringMatching(/another audience/) });
    await expect(post(both.mailer, bounce('victim@example.org'), { query: { secret: 'wrong' } })).rejects.toMatchObject(
      { status: 401, message: expect.stringMatching(/webhook secret is missing or wrong/) },
    );
    expect(await both.snapshot()).toBe(before);
  });
});

describe('with neither configured', () => {
  it('refuses acs naming both options, and other sources naming the webhook secret', async () => {
    const none = world({});
    worlds.push(none);
    await expect(post(none.mailer, bounce('victim@example.org'), bearer(await token()))).rejects.toMatchObject({
      status: 401,
      message: expect.stringMatching(/events\.webhookSecret.*events\.eventGridEntra/),
    });
    await expect(ingestEvents(none.mailer, 'oci', { body: '[]' })).rejects.toMatchObject({
      status: 401,
      message: expect.stringMatching(/set events\.webhookSecret to take oci events/),
    });
  });
});

describe('looksLikeJwt', () => {
  it('takes three base64url parts with a JSON header naming alg, and nothing else', async () => {
    expect(looksLikeJwt(await token())).toBe(true);
    expect(looksLikeJwt(`${b64({ alg: 'none' })}.${b64({})}.`)).toBe(true);
    expect(looksLikeJwt('abc.def.ghi')).toBe(false);
    expect(looksLikeJwt(SECRET)).toBe(false);
    expect(looksLikeJwt(`${b64({ typ: 'JWT' })}.${b64({})}.sig`)).toBe(false);
  });
});

describe('the configuration', () => {
  it('wants a tenant GUID, an audience and an http(s) jwksUri', () => {
    const check = (eventGridEntra: unknown) => () =>
      validateConfig(
        { providers: [{ name: 'local', provider: 'local', mode: 'api' }], events: { eventGridEntra } },
        'test',
        builtInProviders,
      );
    expect(check({ tenantId: TENANT, audience: AUDIENCE })).not.toThrow();
    expect(check({ tenantId: 'contoso.onmicrosoft.com', audience: AUDIENCE })).toThrow(/GUID/);
    expect(check({ tenantId: TENANT })).toThrow(/audience/);
    expect(check({ tenantId: TENANT, audience: AUDIENCE, jwksUri: 'file:///etc/keys' })).toThrow(/jwksUri/);
    expect(check({ tenantId: TENANT, audience: AUDIENCE, extra: true })).toThrow();
  });
});
