import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../core/config/config.ts';
import { Mailer } from '../../core/mailer.ts';
import { routeHttpRequest } from '../../core/runtime/http-routes.ts';
import { builtInProviders, createAdapter } from '../../providers/index.ts';

// Enqueue mode checks what the consumer would refuse at once, so it is answered now instead of being accepted (202)
// and dead-lettered later: providerOptions against the registry, the sender against allowedSenders.

const mailer = new Mailer(
  validateConfig(
    { providers: [{ name: 'local', provider: 'local', mode: 'api' }], allowedSenders: ['example.com'] },
    'test',
    builtInProviders,
  ),
  createAdapter,
  { providers: builtInProviders },
);

async function enqueue(message: Record<string, unknown>) {
  const queued: string[] = [];
  const answer = await routeHttpRequest(
    mailer,
    {
      method: 'POST',
      path: '/v1/send',
      body: JSON.stringify(message),
      headers: { 'content-type': 'application/json' },
      query: { mode: 'enqueue' },
    },
    {
      enqueue: async (body) => {
        queued.push(body);
        return 'queue-id-1';
      },
    },
  );
  return { answer, queued };
}

const good = { from: 'app@example.com', to: 'a@example.org', subject: 's', text: 't' };

describe('POST /v1/send?mode=enqueue', () => {
  it('queues a message the consumer will take', async () => {
    const { answer, queued } = await enqueue(good);
    expect(answer.status).toBe(202);
    expect(queued).toHaveLength(1);
  });

  it('refuses a sender off allowedSenders (403) and queues nothing', async () => {
    const { answer, queued } = await enqueue({ ...good, from: 'ceo@any.example' });
    expect(answer.status).toBe(403);
    expect(answer.body).toMatchObject({ ok: false, error: { code: 'SENDER_NOT_ALLOWED' } });
    expect(queued).toEqual([]);
  });

  it('refuses an option no provider has (400) and queues nothing', async () => {
    const { answer, queued } = await enqueue({ ...good, providerOptions: { gmail: { foo: 1 } } });
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ ok: false, error: { code: 'INVALID_MESSAGE' } });
    expect(queued).toEqual([]);
  });
});
