import { Injectable } from '@nestjs/common';
import { UnitOfWork } from '../database/unit-of-work';
import { envelope } from './envelope';
import type { IntegrationEnvelope } from './envelope';
import { OutboxMessage } from './outbox.entity';
import { OutboxRelay } from './outbox.relay';

/**
 * The transactional outbox: a use case adds its integration events inside its unit of work, so
 * the events are stored if and only if its change commits. The relay publishes them afterwards.
 */
@Injectable()
export class Outbox {
  constructor(
    private readonly unitOfWork: UnitOfWork,
    private readonly relay: OutboxRelay,
  ) {}

  async add<T>(type: string, source: string, data: T): Promise<IntegrationEnvelope<T>> {
    if (!this.unitOfWork.active) {
      throw new Error(`${type} must be added to the outbox inside a unit of work`);
    }
    const event = envelope(type, source, data);
    await this.unitOfWork.manager.insert(OutboxMessage, {
      eventId: event.id,
      type,
      envelope: JSON.stringify(event),
    });
    this.unitOfWork.afterCommit(() => this.relay.wake());
    return event;
  }
}
