import { Inject, Injectable, Logger } from '@nestjs/common';
import type { OnApplicationShutdown } from '@nestjs/common';
import { ClientProxy } from '@nestjs/microservices';
import { lastValueFrom, timeout } from 'rxjs';
import type { IntegrationEnvelope } from './envelope';

export const BROKER_CLIENT = Symbol('BROKER_CLIENT');

/**
 * Publishes integration events on the broker. Delivery is at most once: a failed publish is
 * logged, not retried (the transactional-outbox ADR proposes the at-least-once alternative).
 */
@Injectable()
export class IntegrationEvents implements OnApplicationShutdown {
  private readonly logger = new Logger(IntegrationEvents.name);

  constructor(@Inject(BROKER_CLIENT) private readonly client: ClientProxy) {}

  async publish(event: IntegrationEnvelope<unknown>): Promise<boolean> {
    try {
      await lastValueFrom(this.client.emit(event.type, event).pipe(timeout(5000)), {
        defaultValue: undefined,
      });
      return true;
    } catch (error) {
      this.logger.warn(`could not publish ${event.type} ${event.id}: ${String(error)}`);
      return false;
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.client.close();
  }
}
