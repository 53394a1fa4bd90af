import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { MailrouteConfig } from '../../core/config/config.ts';
import type { Capabilities, Limits } from '../../core/contract/adapter.ts';
import { MessageTooLargeError, UnsupportedFeatureError } from '../../core/errors.ts';
import { Mailer } from '../../core/mailer.ts';
import { createAdapter } from '../../providers/index.ts';
import { LocalApiAdapter } from '../../providers/local/api.ts';

/** The real local API adapter, declaring fewer capabilities: the core must refuse before it is called. */
class NarrowAdapter extends LocalApiAdapter {
  override readonly capabilities: Capabilities = {
    attachments: true,
    inlineImages: false,
    tags: false,
    customHeaders: true,
    replyTo: true,
    cc: true,
    bcc: true,
  };
  override readonly limits: Limits = { maxEncodedBytes: 2000, maxRecipients: 2 };
}

const base = { from: 'app@example.com', to: 'user@example.com', subject: 'Hi', text: 'Hello' };

describe('Mailer', () => {
  let mailer: Mailer | undefined;
  afterEach(async () => mailer?.close());

  function narrowMailer(outbox: string) {
    const config: MailrouteConfig = {
      providers: [{ name: 'narrow', provider: 'local', mode: 'api' }],
      outboxDir: outbox,
    };
    return new Mailer(config, (entry) => new NarrowAdapter(entry as never, outbox));
  }

  it('refuses a feature the adapter lacks, naming it, and sends nothing', async () => {
    const outbox = mkdtempSync(join(tmpdir(), 'mr-out-'));
    mailer = narrowMailer(outbox);
    const inline = { ...base, attachments: [{ filename: 'l.png', content: 'iVBORw0KGgo=', contentId: 'logo' }] };
    await expect(mailer.send(inline)).rejects.toMatchObject({
      name: UnsupportedFeatureError.name,
      message: 'local does not support inline images in api mode',
      path: 'attachments[0].contentId',
    });
    await expect(mailer.send({ ...base, tags: [{ name: 'a', value: 'b' }] })).rejects.toMatchObject({
      feature: 'tags in api mode',
      path: 'tags',
      failover: true,
    });
    const tooMany = mailer.send({ ...base, to: ['a@example.com', 'b@example.com'], cc: 'c@example.com' });
    await expect(tooMany).rejects.toMatchObject({ name: 'MessageTooLargeError', limit: 2, actual: 3 });
    const big = mailer.send({ ...base, text: 'x'.repeat(5000) });
    await expect(big).rejects.toBeInstanceOf(MessageTooLargeError);
    expect(readdirSync(outbox)).toEqual([]);
  });

  it('returns provider, mode, ids, recipients and timings, and writes the outbox in API mode', async () => {
    const outbox = mkdtempSync(join(tmpdir(), 'mr-out-'));
    mailer = new Mailer(
      { providers: [{ name: 'cap', provider: 'local', mode: 'api' }], outboxDir: outbox },
      createAdapter,
    );
    const result = await mailer.send({ ...base, bcc: 'hidden@example.com', metadata: { order: 42 } });
    expect(result).toMatchObject({
      name: 'cap',
      provider: 'local',
      mode: 'api',
      accepted: ['user@example.com', 'hidden@example.com'],
      rejected: [],
      metadata: { order: 42 },
    });
    expect(result.messageId).toMatch(/^<.+@example\.com>$/);
    expect(readdirSync(outbox).sort()).toEqual([`${result.providerMessageId}.eml`, `${result.providerMessageId}.json`]);
    expect(result.timings.totalMs).toBeGreaterThanOrEqual(result.timings.sendMs);
  });

  it('names the provider entry that does not exist', async () => {
    mailer = new Mailer({ providers: [{ name: 'cap', provider: 'local', mode: 'api' }] }, createAdapter);
    await expect(mailer.send(base, { provider: 'nope' })).rejects.toMatchObject({
      name: 'ConfigurationError',
      issues: [{ path: 'provider', message: 'names no provider entry (have: cap)' }],
    });
  });
});
