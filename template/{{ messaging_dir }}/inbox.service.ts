import { Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import type { IntegrationEnvelope } from './envelope';
import { InboxEntry } from './inbox.entity';

/** Records a consumed event once; a redelivered event is ignored (idempotent consumer). */
@Injectable()
export class InboxService {
  private readonly logger = new Logger(InboxService.name);

  constructor(@InjectRepository(InboxEntry) private readonly entries: Repository<InboxEntry>) {}

  async record(consumer: string, event: IntegrationEnvelope<unknown>): Promise<void> {
    await this.entries
      .createQueryBuilder()
      .insert()
      .values({
        id: event.id,
        consumer,
        type: event.type,
        source: event.source,
        payload: JSON.stringify(event.data),
      })
      .orIgnore()
      .execute();
    this.logger.log(`${consumer} consumed ${event.type} ${event.id}`);
  }
}
