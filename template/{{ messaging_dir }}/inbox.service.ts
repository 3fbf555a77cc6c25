import { Injectable, Logger } from '@nestjs/common';
import { z } from 'zod';
import { UnitOfWork } from '../database/unit-of-work';
import type { IntegrationEnvelope } from './envelope';
import { InboxEntry } from './inbox.entity';

/** A received event that no retry can handle (it breaks its schema): it goes to the dead letter. */
export class InvalidEventError extends Error {
  override readonly name = 'InvalidEventError';
}

/**
 * The inbox: a consumer handles each event once. `accept` checks a received message against the
 * event's schema; `record` stores (event id, consumer) and runs the effect in one unit of work, so
 * a redelivered event finds its row and has no second effect, and a failed effect leaves no row.
 */
@Injectable()
export class InboxService {
  private readonly logger = new Logger(InboxService.name);

  constructor(private readonly unitOfWork: UnitOfWork) {}

  accept<S extends z.ZodType>(message: unknown, schema: S): z.infer<S> {
    const parsed = schema.safeParse(message);
    if (!parsed.success) {
      throw new InvalidEventError(z.prettifyError(parsed.error).replace(/\n/g, '; '));
    }
    return parsed.data;
  }

  /** True when the event was new to this consumer, false for a redelivery. */
  record(
    consumer: string,
    event: IntegrationEnvelope<unknown>,
    effect: () => Promise<void> = () => Promise.resolve(),
  ): Promise<boolean> {
    return this.unitOfWork.run(async () => {
      const entries = this.unitOfWork.manager.getRepository(InboxEntry);
      if (await entries.existsBy({ id: event.id, consumer })) {
        this.logger.log(`${consumer} already consumed ${event.type} ${event.id}`);
        return false;
      }
      await entries.insert({
        id: event.id,
        consumer,
        type: event.type,
        source: event.source,
        payload: JSON.stringify(event.data),
      });
      await effect();
      this.logger.log(`${consumer} consumed ${event.type} ${event.id}`);
      return true;
    });
  }
}
