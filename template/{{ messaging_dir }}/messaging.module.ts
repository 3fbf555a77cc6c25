import { Global, Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import { ClientProxyFactory } from '@nestjs/microservices';
import { TerminusModule } from '@nestjs/terminus';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ENV } from '../config/env';
import type { Env } from '../config/env';
import { brokerClientOptions } from './broker-options';
import { BrokerHealthIndicator } from './broker.health';
import { InboxEntry } from './inbox.entity';
import { InboxService } from './inbox.service';
import { BROKER_CLIENT, IntegrationEvents } from './integration-events';

export interface MessagingOptions {
  /** Where this service's integration events are sent (a queue name for RabbitMQ). */
  publishTo: string;
}

/** The broker client, the inbox of consumed events and the broker's readiness check. */
@Global()
@Module({})
export class MessagingModule {
  static forRoot(options: MessagingOptions): DynamicModule {
    return {
      module: MessagingModule,
      imports: [TerminusModule, TypeOrmModule.forFeature([InboxEntry])],
      providers: [
        {
          provide: BROKER_CLIENT,
          inject: [ENV],
          useFactory: (env: Env) =>
            ClientProxyFactory.create(brokerClientOptions(env, options.publishTo)),
        },
        IntegrationEvents,
        InboxService,
        BrokerHealthIndicator,
      ],
      exports: [IntegrationEvents, InboxService, BrokerHealthIndicator],
    };
  }
}
