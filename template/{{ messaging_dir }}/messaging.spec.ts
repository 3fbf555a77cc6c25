import { jest } from '@jest/globals';
import type { ClientProxy } from '@nestjs/microservices';
import { of, throwError } from 'rxjs';
import type { Repository } from 'typeorm';
import { envelope } from './envelope';
import type { InboxEntry } from './inbox.entity';
import { InboxService } from './inbox.service';
import { IntegrationEvents } from './integration-events';

describe('IntegrationEvents', () => {
  it('emits the envelope under its type', async () => {
    const emit = jest.fn(() => of(undefined));
    const close = jest.fn(() => Promise.resolve());
    const events = new IntegrationEvents({ emit, close } as unknown as ClientProxy);
    const event = envelope('items.created', 'items', { id: '1' });
    await expect(events.publish(event)).resolves.toBe(true);
    expect(emit).toHaveBeenCalledWith('items.created', event);
    await events.onApplicationShutdown();
    expect(close).toHaveBeenCalled();
  });

  it('reports a failed publish without throwing', async () => {
    const emit = () => throwError(() => new Error('broker down'));
    const events = new IntegrationEvents({ emit } as unknown as ClientProxy);
    await expect(events.publish(envelope('x', 'y', {}))).resolves.toBe(false);
  });
});

describe('InboxService', () => {
  it('inserts the event once per consumer', async () => {
    const values = jest.fn();
    const builder = {
      insert: () => builder,
      values: (row: unknown) => {
        values(row);
        return builder;
      },
      orIgnore: () => builder,
      execute: () => Promise.resolve({}),
    };
    const repository = { createQueryBuilder: () => builder } as unknown as Repository<InboxEntry>;
    await new InboxService(repository).record(
      'payments',
      envelope('orders.created', 'orders', { n: 1 }),
    );
    expect(values).toHaveBeenCalledWith(
      expect.objectContaining({ consumer: 'payments', type: 'orders.created', payload: '{"n":1}' }),
    );
  });
});
