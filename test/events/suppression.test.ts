import { describe, expect, it } from 'vitest';
import type { MailEvent } from '../../core/events/event.ts';
import { SuppressionList, suppressionAddress } from '../../core/events/suppression.ts';
import { MemoryStore } from '../../stores/memory.ts';

const at = (day: number) => new Date(Date.UTC(2026, 10, day, 12)).toISOString();
const event = (fields: Partial<MailEvent>): MailEvent => ({
  type: 'bounced',
  provider: 'ses',
  eventTime: at(1),
  recipient: 'Jane@Example.org',
  raw: {},
  ...fields,
});

describe('the suppression list', () => {
  it('keys an address by its lower-case, ASCII form, whatever way it is written', () => {
    expect(suppressionAddress('Jane Doe <Jane@Exämple.ORG>')).toBe('jane@xn--exmple-cua.org');
    expect(suppressionAddress(' jane@example.org ')).toBe('jane@example.org');
  });

  it('suppresses on a hard bounce, a complaint, an unsubscribe and a provider-side suppression; not on a delivery', async () => {
    const list = new SuppressionList(new MemoryStore());
    expect(await list.apply(event({ bounceType: 'hard', recipient: 'a@example.org' }))).toBe('suppressed');
    expect(await list.apply(event({ type: 'complained', recipient: 'b@example.org', provider: 'acs' }))).toBe(
      'suppressed',
    );
    expect(await list.apply(event({ type: 'unsubscribed', recipient: 'c@example.org', reason: 'all topics' }))).toBe(
      'suppressed',
    );
    // Leaving one topic of a contact list is not leaving all mail.
    expect(
      await list.apply(event({ type: 'unsubscribed', recipient: 'g@example.org', reason: 'list: topic news' })),
    ).toBeUndefined();
    expect(await list.apply(event({ type: 'rejected', reason: 'Suppressed', recipient: 'd@example.org' }))).toBe(
      'suppressed',
    );
    expect(await list.apply(event({ type: 'rejected', reason: 'virus', recipient: 'e@example.org' }))).toBeUndefined();
    expect(await list.apply(event({ type: 'delivered', recipient: 'f@example.org' }))).toBeUndefined();
    const found = await list.check([
      'A@example.org',
      'b@example.org',
      'c@example.org',
      'd@example.org',
      'e@example.org',
    ]);
    expect([...found.keys()]).toEqual(['A@example.org', 'b@example.org', 'c@example.org', 'd@example.org']);
    expect(found.get('b@example.org')).toMatchObject({ reason: 'complained', provider: 'acs', since: at(1) });
    expect(found.get('d@example.org')?.reason).toBe('provider-suppressed');
    expect((await list.list()).map((e) => e.address)).toEqual([
      'a@example.org',
      'b@example.org',
      'c@example.org',
      'd@example.org',
    ]);
  });

  it('suppresses after the configured number of soft bounces in the window, and a delivery resets the count', async () => {
    const list = new SuppressionList(new MemoryStore(), { softBounceThreshold: 3, softBounceWindowDays: 10 });
    const soft = (day: number) => event({ bounceType: 'soft', eventTime: at(day), diagnostic: 'smtp; 452 4.2.2 full' });
    expect(await list.apply(soft(1))).toBe('soft-bounce-counted');
    expect(await list.apply(soft(2))).toBe('soft-bounce-counted');
    // A delivery in between starts the count again.
    expect(await list.apply(event({ type: 'delivered', eventTime: at(3) }))).toBe('soft-bounces-reset');
    expect(await list.apply(soft(4))).toBe('soft-bounce-counted');
    expect(await list.apply(soft(5))).toBe('soft-bounce-counted');
    expect(await list.get('jane@example.org')).toBeUndefined();
    expect(await list.apply(soft(6))).toBe('suppressed');
    const entry = await list.get('jane@example.org');
    expect(entry?.reason).toBe('bounced');
    expect(entry?.detail).toMatch(/^3 soft bounces since .*; last: smtp; 452 4\.2\.2 full$/);
  });

  it('counts soft bounces outside the window afresh', async () => {
    const list = new SuppressionList(new MemoryStore(), { softBounceThreshold: 2, softBounceWindowDays: 2 });
    expect(await list.apply(event({ bounceType: 'soft', eventTime: at(1) }))).toBe('soft-bounce-counted');
    expect(await list.apply(event({ bounceType: 'soft', eventTime: at(9) }))).toBe('soft-bounce-counted');
    expect(await list.apply(event({ bounceType: 'soft', eventTime: at(10) }))).toBe('suppressed');
  });

  it('a late copy of the event that suppressed a removed address does not put it back; a newer event does', async () => {
    const list = new SuppressionList(new MemoryStore());
    await list.apply(event({ bounceType: 'hard', eventTime: at(1) }));
    expect(await list.remove('jane@example.org', new Date(at(2)))).toBe(true);
    expect(await list.get('jane@example.org')).toBeUndefined();
    expect(await list.list()).toEqual([]);
    // SNS redelivers the old bounce: ignored.
    expect(await list.apply(event({ bounceType: 'hard', eventTime: at(1) }))).toBeUndefined();
    expect(await list.get('jane@example.org')).toBeUndefined();
    // A new bounce after the removal suppresses again.
    expect(await list.apply(event({ bounceType: 'hard', eventTime: at(3) }))).toBe('suppressed');
    expect(await list.remove('nobody@example.org')).toBe(false);
  });

  it('keeps the newer of two entries for one address', async () => {
    const list = new SuppressionList(new MemoryStore());
    await list.apply(event({ type: 'complained', eventTime: at(5) }));
    expect(await list.apply(event({ bounceType: 'hard', eventTime: at(4) }))).toBeUndefined();
    expect((await list.get('jane@example.org'))?.reason).toBe('complained');
  });
});
