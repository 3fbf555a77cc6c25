import { Global, Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import { ClientProxyFactory } from '@nestjs/microservices';
import { TerminusModule } from '@nestjs/terminus';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ENV } from '../config/env';
import type { Env } from '../config/env';
import { brokerClientOptions } from './broker-options';
import { BrokerHealthIndicator } from './broker.health';
import { ConsumerInterceptor } from './consumer.interceptor';
import { InboxEntry } from './inbox.entity';
import { InboxService } from './inbox.service';
import { BROKER_CLIENT, IntegrationEvents } from './integration-events';
import { Outbox } from './outbox';
import { OutboxMessage } from './outbox.entity';
import { OutboxRelay } from './outbox.relay';

export interface MessagingOptions {
  /** Where this service's integration events are sent (a queue name for RabbitMQ). */
  publishTo: string;
}

/**
 * Integration events: the outbox and its relay to the broker, the inbox of consumed events, the
 * consumers' interceptor and the broker's readiness check.
 */
@Global()
@Module({})
export class MessagingModule {
  static forRoot(options: MessagingOptions): DynamicModule {
    return {
      module: MessagingModule,
      imports: [TerminusModule, TypeOrmModule.forFeature([InboxEntry, OutboxMessage])],
      providers: [
        {
          provide: BROKER_CLIENT,
          inject: [ENV],
          useFactory: (env: Env) =>
            ClientProxyFactory.create(brokerClientOptions(env, options.publishTo)),
        },
        IntegrationEvents,
        OutboxRelay,
        Outbox,
        InboxService,
        ConsumerInterceptor,
        BrokerHealthIndicator,
      ],
      exports: [Outbox, InboxService, ConsumerInterceptor, BrokerHealthIndicator],
    };
  }
}
