import { DomainEvents } from './domain-events';

class Created {
  constructor(readonly id: string) {}
}
class Other {}

describe('DomainEvents', () => {
  it('delivers events of the subscribed type only', async () => {
    const events = new DomainEvents();
    const seen: string[] = [];
    events.on(Created, (event) => seen.push(event.id));
    events.on(Created, () => {
      throw new Error('a failing handler does not stop the others');
    });
    events.publish(new Other());
    events.publish(new Created('a'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual(['a']);
    events.onModuleDestroy();
  });
});
