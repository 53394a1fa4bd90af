import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/config/config.ts';
import { ConfigurationError } from '../../core/errors.ts';
import { normalizeMessage } from '../../core/message/validate.ts';
import { planRoute } from '../../core/routing/routing.ts';

const config = parseConfig(`
providers:
  - { name: ses-api, provider: local, mode: api, domains: [example.com, shop.example] }
  - { name: ses-smtp, provider: local, mode: smtp }
  - { name: azure, provider: local, mode: api }
  - { name: oci, provider: local, mode: api, domains: [other.example] }
routes:
  - { name: shop, providers: [ses-api, azure], senderDomains: [shop.example] }
  - { name: split, providers: [ses-api, azure, ses-smtp], weights: { ses-api: 3, azure: 1 } }
  - { name: main, providers: [ses-api, ses-smtp, azure, oci], allowDuplicates: true }
defaultRoute: main
`);

const msg = (from: string, extra: Record<string, unknown> = {}) =>
  normalizeMessage({ from, to: 'u@example.org', subject: 's', text: 't', ...extra });

describe('planRoute', () => {
  it('picks the route for the sender domain, in failover order', () => {
    const plan = planRoute(config, msg('a@shop.example'));
    expect(plan).toMatchObject({
      route: 'shop',
      why: 'route "shop" serves sender domain shop.example',
      allowDuplicates: false,
    });
    expect(plan.candidates.map((c) => c.name)).toEqual(['ses-api', 'azure']);
  });

  it('matches an internationalized sender domain written in Unicode or in capitals in the configuration', () => {
    const idn = parseConfig(`
providers:
  - { name: eu, provider: local, mode: api, domains: [Bücher.example] }
  - { name: us, provider: local, mode: api, domains: [xn--bcher-kva.example] }
  - { name: other, provider: local, mode: api, domains: [other.example] }
routes:
  - { name: books, providers: [other, eu, us], senderDomains: [BÜCHER.example] }
`);
    // The message's domain is normalized to punycode; the configuration's is compared the same way.
    const plan = planRoute(idn, msg('shop@bücher.example'));
    expect(plan.route).toBe('books');
    expect(plan.candidates.map((c) => c.name)).toEqual(['eu', 'us']);
    expect(plan.excluded.map((e) => e.name)).toEqual(['other']);
  });

  it('falls back to the default route and leaves out providers not verified for the sender', () => {
    const plan = planRoute(config, msg('a@example.com'));
    expect(plan.route).toBe('main');
    expect(plan.allowDuplicates).toBe(true);
    expect(plan.candidates.map((c) => c.name)).toEqual(['ses-api', 'ses-smtp', 'azure']);
    expect(plan.excluded).toEqual([{ name: 'oci', why: 'sends only for other.example, not example.com' }]);
  });

  it('takes a route named by the message, and refuses an unknown one naming the field', () => {
    expect(planRoute(config, msg('a@shop.example', { route: 'main' })).route).toBe('main');
    expect(() => planRoute(config, msg('a@shop.example', { route: 'nope' }))).toThrow(
      /route: names no configured route/,
    );
  });

  it('refuses a message that names another route than the send does, naming both; the same one is taken', () => {
    expect(() => planRoute(config, msg('a@shop.example', { route: 'main' }), { route: 'split' })).toThrow(
      /route: "main" is named by the message, but the send names route "split"/,
    );
    expect(planRoute(config, msg('a@shop.example', { route: 'split' }), { route: 'split' }).route).toBe('split');
    expect(planRoute(config, msg('a@shop.example'), { route: 'split' }).route).toBe('split');
  });

  it('draws the first provider by weight and keeps the rest behind it', () => {
    const firsts = [0, 0.5, 0.74, 0.76, 0.99].map((r) =>
      planRoute(config, msg('a@example.com', { route: 'split' }), { random: () => r }).candidates.map((c) => c.name),
    );
    expect(firsts).toEqual([
      ['ses-api', 'azure', 'ses-smtp'],
      ['ses-api', 'azure', 'ses-smtp'],
      ['ses-api', 'azure', 'ses-smtp'],
      ['azure', 'ses-api', 'ses-smtp'],
      ['azure', 'ses-api', 'ses-smtp'],
    ]);
  });

  it('sends through one named provider when the caller asks', () => {
    expect(planRoute(config, msg('a@example.com'), { provider: 'azure' }).candidates.map((c) => c.name)).toEqual([
      'azure',
    ]);
    expect(() => planRoute(config, msg('a@example.com'), { provider: 'x' })).toThrow(ConfigurationError);
  });

  it('without routes, tries every provider with defaultProvider first', () => {
    const plain = parseConfig(`
providers: [{ name: a, provider: local, mode: api }, { name: b, provider: local, mode: api }]
defaultProvider: b
`);
    expect(planRoute(plain, msg('x@example.com')).candidates.map((c) => c.name)).toEqual(['b', 'a']);
  });

  it('validates routes at load time, naming the field', () => {
    expect(() =>
      parseConfig(`
providers: [{ name: a, provider: local, mode: api }]
routes: [{ name: r, providers: [a, ghost], weights: { b: 1 } }]
defaultRoute: nothing
`),
    ).toThrow(
      /routes\[0\]\.providers\[1\]: names no provider entry "ghost".*routes\[0\]\.weights\.b.*defaultRoute: names no route/,
    );
  });
});
