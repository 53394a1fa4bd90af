import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AcsArmEmulator,
  customDomain,
  documentedRecords,
  startAcsArmEmulator,
} from '../../emulators/acs-arm/index.ts';
import type { AzureConfig } from '../../providers/azure/config.ts';
import { azureFields } from '../../providers/azure/config.ts';
import { expectSetup } from '../../providers/azure/deliverability.ts';
import { startBlackHole } from '../helpers/black-hole.ts';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/tls/${name}`, import.meta.url), 'utf8');
const tenantId = randomUUID();
const clientId = randomUUID();
const clientSecret = `secret-${randomUUID()}`;
const wrongSecret = `wrong-${randomUUID()}`;
const readerlessId = randomUUID();
const env: Record<string, string> = {
  MR_TEST_ARM_SECRET: clientSecret,
  MR_TEST_ARM_WRONG: wrongSecret,
  MR_TEST_ARM_READERLESS: clientSecret,
};
const context = { useApi: true, timeoutMs: 10_000 };
const documentedDkim = [
  { selector: 'selector1-azurecomm-prod-net', cname: 'selector1-azurecomm-prod-net._domainkey.azurecomm.net' },
  { selector: 'selector2-azurecomm-prod-net', cname: 'selector2-azurecomm-prod-net._domainkey.azurecomm.net' },
];

let arm: AcsArmEmulator;

beforeAll(async () => {
  arm = await startAcsArmEmulator({
    tls: { key: fixture('key.pem'), cert: fixture('cert.pem') },
    clients: [
      { tenantId, clientId, clientSecret },
      { tenantId, clientId: readerlessId, clientSecret, canRead: false },
    ],
    domains: {
      'verified.example': customDomain('verified.example', {
        records: {
          // Not the documented values, so that the test tells the API's records from the documented ones.
          DKIM: { type: 'CNAME', name: 'sel-a._domainkey', value: 'sel-a._domainkey.eu.azurecomm.net.', ttl: 3600 },
          DKIM2: { type: 'CNAME', name: 'sel-b._domainkey', value: 'sel-b._domainkey.eu.azurecomm.net', ttl: 3600 },
          SPF: { type: 'TXT', name: 'verified.example', value: 'v=spf1 include:spf.eu.example.net -all', ttl: 3600 },
        },
      }),
      'pending.example': customDomain('pending.example', { dkim: 'NotStarted', spf: 'VerificationFailed' }),
      'unowned.example': customDomain('unowned.example', {
        domain: 'NotStarted',
        spf: 'NotStarted',
        dkim: 'NotStarted',
      }),
    },
  });
});

afterAll(async () => {
  await arm?.close();
});

const entry = (over: Partial<AzureConfig> = {}, service: Partial<NonNullable<AzureConfig['emailService']>> = {}) =>
  ({
    name: 'azure-api',
    provider: 'azure',
    mode: 'api',
    endpoint: 'https://contoso.communication.azure.com',
    entra: { tenantId, clientId, clientSecret: { env: 'MR_TEST_ARM_SECRET' } },
    emailService: {
      subscriptionId: arm.subscriptionId,
      resourceGroup: arm.resourceGroup,
      name: arm.emailService,
      armEndpoint: arm.armEndpoint,
      authorityHost: arm.authorityHost,
      ...service,
    },
    ...over,
  }) as AzureConfig;
const options = () => ({ env, tlsOptions: { ca: arm.ca } });

describe('Azure deliverability from the Email Communication Service domain (ARM)', () => {
  it('reads a verified custom domain: its DKIM CNAMEs and SPF include, through a real ClientSecretCredential', async () => {
    const tokensBefore = arm.tokensIssued();
    const setup = await expectSetup(entry(), 'verified.example', context, options());
    expect(setup.source).toBe('api');
    expect(setup.verified).toBe(true);
    expect(setup.dkim).toEqual([
      { selector: 'sel-a', cname: 'sel-a._domainkey.eu.azurecomm.net' },
      { selector: 'sel-b', cname: 'sel-b._domainkey.eu.azurecomm.net' },
    ]);
    expect(setup.dkimStatus).toBe('DKIM Verified, DKIM2 Verified');
    expect(setup.spf).toEqual({ includes: ['spf.eu.example.net'] });
    expect(setup.envelope).toEqual({ domain: 'verified.example' });
    expect(setup.steps).toBeUndefined();
    expect(setup.note).toContain('custom domain');
    expect(arm.tokensIssued()).toBeGreaterThan(tokensBefore);
  });

  it('says when DKIM has not been verified, and what to do on ACS', async () => {
    const setup = await expectSetup(entry(), 'pending.example', context, options());
    expect(setup.source).toBe('api');
    expect(setup.verified).toBe(true);
    expect(setup.dkimStatus).toBe('DKIM NotStarted, DKIM2 NotStarted');
    expect(setup.dkim).toEqual(documentedDkim);
    expect(setup.spf).toEqual({ includes: ['spf.protection.outlook.com'] });
    expect(setup.steps).toEqual([
      `once its records are published, verify SPF, DKIM, DKIM2 of pending.example in the Email Communication Service ${arm.emailService} (resource group ${arm.resourceGroup})`,
    ]);
  });

  it('asks for the ownership record of a domain not yet verified', async () => {
    const setup = await expectSetup(entry(), 'unowned.example', context, options());
    expect(setup.verified).toBe(false);
    expect(setup.steps?.[0]).toMatch(
      /^publish the ownership record of unowned\.example \(TXT unowned\.example "ms-domain-verification=[0-9a-f-]{36}"\)/,
    );
  });

  it('reports an unknown domain as not set up, with the step to add it', async () => {
    const setup = await expectSetup(entry(), 'unknown.example', context, options());
    expect(setup).toEqual({
      source: 'api',
      note: `read from Azure Resource Manager: unknown.example is not a domain of the Email Communication Service ${arm.emailService} (resource group ${arm.resourceGroup})`,
      verified: false,
      dkim: [],
      envelope: { domain: 'unknown.example' },
      spf: { includes: ['spf.protection.outlook.com'] },
      steps: [
        `add unknown.example as a custom domain of your Email Communication Service ${arm.emailService} (resource group ${arm.resourceGroup}) and connect it to the Communication Services resource`,
      ],
    });
  });

  it('does not take a wrong email service for a domain to add', async () => {
    const setup = await expectSetup(entry({}, { name: 'no-such-service' }), 'unknown.example', context, options());
    expect(setup.source).toBe('documented');
    expect(setup.verified).toBeUndefined();
    expect(setup.note).toContain(
      "ResourceNotFound: The Resource 'Microsoft.Communication/emailServices/no-such-service'",
    );
  });

  it('falls back to the documented pattern on a wrong client secret, without the secret in the note', async () => {
    const wrong = entry({ entra: { tenantId, clientId, clientSecret: { env: 'MR_TEST_ARM_WRONG' } } });
    const setup = await expectSetup(wrong, 'verified.example', context, options());
    expect(setup.source).toBe('documented');
    expect(setup.verified).toBeUndefined();
    expect(setup.dkim).toEqual(documentedDkim);
    expect(setup.note).toContain('AADSTS7000215');
    expect(setup.note).not.toContain(wrongSecret);
    expect(setup.note).not.toContain(clientSecret);
  });

  it('falls back to the documented pattern when the credential may not read the service (403)', async () => {
    const readerless = entry({
      entra: { tenantId, clientId: readerlessId, clientSecret: { env: 'MR_TEST_ARM_READERLESS' } },
    });
    const setup = await expectSetup(readerless, 'verified.example', context, options());
    expect(setup.source).toBe('documented');
    expect(setup.note).toContain('AuthorizationFailed');
    expect(setup.note).toContain('needs Reader');
  });

  it('falls back to the documented pattern when Entra and ARM do not answer in time', async () => {
    // A TLS handshake that never completes: neither the token nor the domain ever comes.
    const hole = await startBlackHole();
    try {
      const silent = entry({}, { armEndpoint: hole.url(), authorityHost: hole.url() });
      const started = Date.now();
      const setup = await expectSetup(silent, 'verified.example', { useApi: true, timeoutMs: 300 }, options());
      expect(setup.source).toBe('documented');
      expect(setup.note).toContain('no answer within 300 ms');
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(hole.connections).toBeGreaterThan(0);
    } finally {
      await hole.close();
    }
  });

  it('uses a token credential of the caller, whose token ARM refuses here', async () => {
    const credential = {
      getToken: async () => ({ token: 'not-issued-by-entra', expiresOnTimestamp: Date.now() + 3_600_000 }),
    };
    const setup = await expectSetup(entry(), 'verified.example', context, { credential, tlsOptions: { ca: arm.ca } });
    expect(setup.source).toBe('documented');
    expect(setup.note).toContain('InvalidAuthenticationToken: The access token is invalid. (HTTP 401)');
  });

  it('uses the documented pattern without an emailService', async () => {
    const tokensBefore = arm.tokensIssued();
    const requestsBefore = arm.armRequests();
    const setup = await expectSetup(entry({ emailService: undefined }), 'mail.example', context, options());
    expect(setup).toEqual({
      source: 'documented',
      note: 'no emailService is configured to read the domain from Azure Resource Manager; the documented ACS custom domain records (public cloud) are expected instead, SPF checked on mail.example itself',
      dkim: documentedDkim,
      envelope: { domain: 'mail.example' },
      spf: { includes: ['spf.protection.outlook.com'] },
      steps: [
        'add mail.example as a custom domain of your Email Communication Service and connect it to the Communication Services resource',
      ],
    });
    expect(arm.tokensIssued()).toBe(tokensBefore);
    expect(arm.armRequests()).toBe(requestsBefore);
  });

  it('uses the documented pattern, asking nothing, when API lookups are off', async () => {
    const requestsBefore = arm.armRequests();
    const setup = await expectSetup(entry(), 'verified.example', { useApi: false, timeoutMs: 10_000 }, options());
    expect(setup.source).toBe('documented');
    expect(setup.note).toMatch(/^Azure Resource Manager was not asked/);
    expect(setup.dkim).toEqual(documentedDkim);
    expect(arm.armRequests()).toBe(requestsBefore);
  });
});

describe('the emailService field', () => {
  const field = azureFields.emailService;
  const valid = { subscriptionId: randomUUID(), resourceGroup: 'rg', name: 'svc' };

  it('takes a subscription GUID, a resource group and a name, and https endpoints only', () => {
    expect(field.safeParse(valid).success).toBe(true);
    expect(field.safeParse({ ...valid, subscriptionId: 'not-a-guid' }).success).toBe(false);
    expect(field.safeParse({ ...valid, armEndpoint: 'https://management.usgovcloudapi.net' }).success).toBe(true);
    expect(field.safeParse({ ...valid, armEndpoint: 'http://127.0.0.1:8080' }).success).toBe(false);
    expect(field.safeParse({ ...valid, authorityHost: 'http://127.0.0.1:8080' }).success).toBe(false);
    expect(field.safeParse({ ...valid, extra: 1 }).success).toBe(false);
  });
});

describe('the ARM emulator', () => {
  const token = async () => {
    const response = await fetchArm(`/${tenantId}/oauth2/v2.0/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: clientId,
        client_secret: clientSecret,
        scope: 'https://management.azure.com/.default',
      }),
    });
    return ((await response.json()) as { access_token: string }).access_token;
  };
  const domainPath = () =>
    `/subscriptions/${arm.subscriptionId}/resourceGroups/${arm.resourceGroup}/providers/Microsoft.Communication/emailServices/${arm.emailService}/domains/verified.example`;
  // fetch() has no per-request CA: the emulator's certificate is the test fixture's, trusted through undici's agent.
  const fetchArm = async (path: string, init: RequestInit = {}) => {
    const { Agent } = await import('undici');
    const dispatcher = new Agent({ connect: { ca: arm.ca } });
    return fetch(`${arm.url}${path}`, { ...init, dispatcher } as RequestInit);
  };

  it('challenges a request without a token, and refuses one it did not issue', async () => {
    const missing = await fetchArm(`${domainPath()}?api-version=2025-09-01`);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer authorization_uri="https:\/\/127\.0\.0\.1:\d+\//);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('AuthenticationFailed');
    const forged = await fetchArm(`${domainPath()}?api-version=2025-09-01`, {
      headers: { authorization: 'Bearer forged' },
    });
    expect(forged.status).toBe(401);
    expect(((await forged.json()) as { error: { code: string } }).error.code).toBe('InvalidAuthenticationToken');
  });

  it('requires the api-version, and serves the domain with the wire names of the spec', async () => {
    const authorization = `Bearer ${await token()}`;
    const bare = await fetchArm(domainPath(), { headers: { authorization } });
    expect(bare.status).toBe(400);
    expect(((await bare.json()) as { error: { code: string } }).error.code).toBe('MissingApiVersionParameter');
    const answer = await fetchArm(`${domainPath()}?api-version=2025-09-01`, { headers: { authorization } });
    expect(answer.status).toBe(200);
    const body = (await answer.json()) as Record<string, unknown> & { properties: Record<string, unknown> };
    expect(body.type).toBe('Microsoft.Communication/EmailServices/Domains');
    expect(body.properties.provisioningState).toBe('Succeeded');
    expect(Object.keys(body.properties.verificationStates as object)).toEqual(['Domain', 'SPF', 'DKIM', 'DKIM2']);
    expect((body.properties.verificationRecords as { DKIM: { name: string } }).DKIM.name).toBe('sel-a._domainkey');
  });

  it('refuses a wrong client secret with AADSTS7000215', async () => {
    const response = await fetchArm(`/${tenantId}/oauth2/v2.0/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: clientId,
        client_secret: wrongSecret,
        scope: 'https://management.azure.com/.default',
      }),
    });
    expect(response.status).toBe(401);
    const body = (await response.json()) as { error: string; error_codes: number[] };
    expect(body.error).toBe('invalid_client');
    expect(body.error_codes).toEqual([7000215]);
  });

  it('makes its own certificate when given none, and points the OpenID metadata back at itself', async () => {
    const own = await startAcsArmEmulator({ clients: [{ tenantId, clientId, clientSecret }] });
    try {
      const { Agent } = await import('undici');
      const dispatcher = new Agent({ connect: { ca: own.ca } });
      const url = `${own.url}/${tenantId}/v2.0/.well-known/openid-configuration`;
      const response = await fetch(url, { dispatcher } as RequestInit);
      expect(response.status).toBe(200);
      const metadata = (await response.json()) as { token_endpoint: string; issuer: string };
      expect(metadata.token_endpoint).toBe(`${own.url}/${tenantId}/oauth2/v2.0/token`);
      expect(metadata.issuer).toBe(`${own.url}/${tenantId}/v2.0`);
      expect(own.ca).not.toBe(arm.ca);
    } finally {
      await own.close();
    }
  });

  it('gives the documented records by default', () => {
    const records = documentedRecords('x.example');
    expect(records.SPF.value).toBe('v=spf1 include:spf.protection.outlook.com -all');
    expect(records.DKIM2.value).toBe('selector2-azurecomm-prod-net._domainkey.azurecomm.net');
  });
});
