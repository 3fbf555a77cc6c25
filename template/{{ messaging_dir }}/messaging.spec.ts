import { jest } from '@jest/globals';
import { HealthIndicatorService } from '@nestjs/terminus';
import type { MicroserviceHealthIndicator } from '@nestjs/terminus';
import type { DataSource, EntityManager } from 'typeorm';
import type { Env } from '../config/env';
import { UnitOfWork } from '../database/unit-of-work';
import { MetricsService } from '../metrics/metrics.service';
import { BrokerHealthIndicator } from './broker.health';
import { envelope, envelopeSchema } from './envelope';
import type { IntegrationEnvelope } from './envelope';
import { InboxService, InvalidEventError } from './inbox.service';
import type { IntegrationEvents } from './integration-events';
import { Outbox } from './outbox';
import type { OutboxMessage } from './outbox.entity';
import { OutboxRelay, backoff } from './outbox.relay';
import { z } from 'zod';

/** A unit of work over an in-memory manager: `rows` is the outbox table, `inbox` the inbox. */
function database() {
  const rows: OutboxMessage[] = [];
  const inbox: Array<{ id: string; consumer: string }> = [];
  const pending = () => rows.filter((row) => row.sentAt === null);
  const manager = {
    insert: (_entity: unknown, row: Partial<OutboxMessage>) => {
      rows.push({
        ...row,
        position: String(rows.length + 1),
        sentAt: null,
        attempts: 0,
      } as OutboxMessage);
      return Promise.resolve();
    },
    increment: (_entity: unknown, where: { position: string }) => {
      rows.filter((row) => row.position === where.position).forEach((row) => (row.attempts += 1));
      return Promise.resolve();
    },
    update: (_entity: unknown, where: { position: { value: string[] } }, set: { sentAt: Date }) => {
      rows
        .filter((row) => where.position.value.includes(row.position))
        .forEach((row) => (row.sentAt = set.sentAt));
      return Promise.resolve();
    },
    getRepository: () => ({
      createQueryBuilder: () => {
        const query = {
          where: () => query,
          orderBy: () => query,
          limit: () => query,
          setLock: () => query,
          setOnLocked: () => query,
          getMany: () => Promise.resolve(pending()),
        };
        return query;
      },
      countBy: () => Promise.resolve(pending().length),
      findOne: () => Promise.resolve(pending()[0] ?? null),
      existsBy: ({ id, consumer }: { id: string; consumer: string }) =>
        Promise.resolve(inbox.some((entry) => entry.id === id && entry.consumer === consumer)),
      insert: (entry: { id: string; consumer: string }) => Promise.resolve(void inbox.push(entry)),
    }),
  } as unknown as EntityManager;
  const dataSource = {
    manager,
    transaction: (work: (manager: EntityManager) => Promise<unknown>) => work(manager),
  } as unknown as DataSource;
  return { rows, inbox, unitOfWork: new UnitOfWork(dataSource) };
}

describe('envelope', () => {
  it('carries id, type, source and time, and passes its own schema', () => {
    const event = envelope('items.created', 'items', { id: '1' });
    expect(event).toMatchObject({ type: 'items.created', source: 'items', data: { id: '1' } });
    expect(envelopeSchema(z.object({ id: z.string() })).safeParse(event).success).toBe(true);
    expect(envelopeSchema(z.object({ id: z.number() })).safeParse(event).success).toBe(false);
  });
});

describe('Outbox and OutboxRelay', () => {
  function relayOver(publish: (event: IntegrationEnvelope<unknown>) => Promise<void>) {
    const db = database();
    const metrics = new MetricsService();
    const events = { publish } as unknown as IntegrationEvents;
    const relay = new OutboxRelay(db.unitOfWork, events, metrics);
    return { ...db, metrics, relay, outbox: new Outbox(db.unitOfWork, relay) };
  }

  it('refuses an event outside a unit of work', async () => {
    const { outbox, rows } = relayOver(() => Promise.resolve());
    await expect(outbox.add('items.created', 'items', {})).rejects.toThrow('inside a unit of work');
    expect(rows).toEqual([]);
  });

  it('stores the event in the transaction and wakes the relay after the commit', async () => {
    const { outbox, relay, rows, unitOfWork } = relayOver(() => Promise.resolve());
    const wake = jest.spyOn(relay, 'wake').mockImplementation(() => undefined);
    await unitOfWork.run(async () => {
      await outbox.add('items.created', 'items', { id: '1' });
      expect(wake).not.toHaveBeenCalled();
    });
    expect(wake).toHaveBeenCalledTimes(1);
    expect(rows).toHaveLength(1);
    expect(JSON.parse(rows[0].envelope)).toMatchObject({
      type: 'items.created',
      data: { id: '1' },
    });
  });

  it('publishes in order, stops at the first failure and keeps the rest pending', async () => {
    const sent: unknown[] = [];
    let down = false;
    const { outbox, relay, rows, unitOfWork, metrics } = relayOver((event) => {
      if (down || event.data === 3) {
        return Promise.reject(new Error('broker down'));
      }
      sent.push(event.data);
      return Promise.resolve();
    });
    jest.spyOn(relay, 'wake').mockImplementation(() => undefined);
    await unitOfWork.run(async () => {
      for (const n of [1, 2, 3, 4]) {
        await outbox.add('items.created', 'items', n);
      }
    });
    await expect(relay.relay()).rejects.toThrow('broker down');
    expect(sent).toEqual([1, 2]);
    expect(rows.map((row) => [row.sentAt !== null, row.attempts])).toEqual([
      [true, 0],
      [true, 0],
      [false, 1],
      [false, 0],
    ]);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^outbox_published_total 2$/m);
    expect(text).toMatch(/^outbox_publish_failures_total 1$/m);
    expect(text).toMatch(/^outbox_pending_events 2$/m);
    down = true;
    await expect(relay.relay()).rejects.toThrow('broker down');
    expect(sent).toEqual([1, 2]);
  });

  it('backs off exponentially with jitter, within the bounds', () => {
    for (let failures = 1; failures <= 20; failures++) {
      const delay = backoff(failures);
      expect(delay).toBeGreaterThan(0);
      expect(delay).toBeLessThanOrEqual(backoff(30) * 2);
    }
    expect(backoff(1)).toBeLessThan(backoff(10));
  });
});

describe('InboxService', () => {
  const schema = envelopeSchema(z.object({ id: z.string() }));

  it('runs the effect once per event and consumer', async () => {
    const { unitOfWork, inbox } = database();
    const service = new InboxService(unitOfWork);
    const event = service.accept(envelope('orders.created', 'orders', { id: '1' }), schema);
    const effect = jest.fn(() => Promise.resolve());
    await expect(service.record('payments', event, effect)).resolves.toBe(true);
    await expect(service.record('payments', event, effect)).resolves.toBe(false);
    await expect(service.record('shipping', event, effect)).resolves.toBe(true);
    expect(effect).toHaveBeenCalledTimes(2);
    expect(inbox.map((entry) => entry.consumer)).toEqual(['payments', 'shipping']);
  });

  it('refuses a message that breaks the schema with the path of the field', () => {
    const service = new InboxService(database().unitOfWork);
    const broken = { ...envelope('orders.created', 'orders', { id: 1 }) };
    expect(() => service.accept(broken, schema)).toThrow(InvalidEventError);
    expect(() => service.accept(broken, schema)).toThrow(/data\.id/);
    expect(() => service.accept('not an event', schema)).toThrow(InvalidEventError);
  });
});

describe('BrokerHealthIndicator', () => {
  it('reports whether a probe reached the broker without failing readiness, and as a gauge', async () => {
    let status = 'down';
    const pingCheck = (key: string) => ({
      withTimeout: () => Promise.resolve({ [key]: { status, message: 'connect ECONNREFUSED' } }),
    });
    const microservice = { pingCheck } as unknown as MicroserviceHealthIndicator;
    const metrics = new MetricsService();
    const env = {
      BROKER_URL: 'amqp://localhost',
      REDIS_URL: 'redis://localhost',
    } as unknown as Env;
    const health = new HealthIndicatorService();
    const indicator = new BrokerHealthIndicator(microservice, health, env, metrics);
    await expect(indicator.check('broker')).resolves.toEqual({
      broker: { status: 'up', connected: false, message: 'connect ECONNREFUSED' },
    });
    expect(await metrics.registry.metrics()).toMatch(/^broker_connected 0$/m);
    status = 'up';
    await expect(indicator.check('broker')).resolves.toEqual({
      broker: { status: 'up', connected: true },
    });
    expect(await metrics.registry.metrics()).toMatch(/^broker_connected 1$/m);
  });
});
