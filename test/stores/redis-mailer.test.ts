import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigurationError } from '../../core/errors.ts';
import { createMailer, parseConfig } from '../../index.ts';
import { type RedisServer, startRedis } from '../helpers/redis.ts';

// createMailer reads `store: { type: redis, url: { env } }`, resolves the URL and shares idempotency through Redis.

let redis: RedisServer;
const VARIABLE = 'MAILROUTE_TEST_REDIS_URL';

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  delete process.env[VARIABLE];
  await redis?.stop();
});

const config = () =>
  parseConfig(`
providers:
  - { provider: local, mode: api, outboxDir: ${JSON.stringify(mkdtempSync(join(tmpdir(), 'mr-redis-')))} }
store: { type: redis, url: { env: ${VARIABLE} }, keyPrefix: "e2e:" }
`);

const message = { from: 'shop@example.com', to: 'jane@example.com', subject: 'Order', text: 'Thanks' };

describe('createMailer with a Redis store', () => {
  it('shares an idempotency record between two mailers through Redis', async () => {
    process.env[VARIABLE] = redis.url;
    const first = await createMailer(config());
    const second = await createMailer(config());
    const raw = new Redis({ host: redis.host, port: redis.port, password: redis.password });
    try {
      const sent = await first.send(message, { idempotencyKey: 'order-42' });
      expect(sent.duplicate).toBeFalsy();
      const again = await second.send(message, { idempotencyKey: 'order-42' });
      expect(again).toMatchObject({ duplicate: true, messageId: sent.messageId });
      expect(await raw.keys('e2e:*idem*order-42*')).toHaveLength(1);
      // The store is each mailer's own: closing the mailer ends its connection, and only ours is left.
      await Promise.all([first.close(), second.close()]);
      const clients = String(await raw.call('CLIENT', 'LIST'))
        .trim()
        .split('\n');
      expect(clients).toHaveLength(1);
    } finally {
      raw.disconnect();
      await Promise.all([first.close(), second.close()]);
    }
  });

  it('names store.url and the variable when the URL is not set', async () => {
    delete process.env[VARIABLE];
    const refused = createMailer(config());
    await expect(refused).rejects.toBeInstanceOf(ConfigurationError);
    await expect(refused).rejects.toThrow(`store.url: environment variable ${VARIABLE} is not set`);
  });
});
