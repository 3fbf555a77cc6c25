import { Inject, Injectable } from '@nestjs/common';
import { MicroserviceHealthIndicator } from '@nestjs/terminus';
import type { HealthIndicatorResult } from '@nestjs/terminus';
import { ENV } from '../config/env';
import type { Env } from '../config/env';
import { brokerClientOptions } from './broker-options';

/** Readiness of the broker: a fresh connection within 2 s. */
@Injectable()
export class BrokerHealthIndicator {
  constructor(
    private readonly microservice: MicroserviceHealthIndicator,
    @Inject(ENV) private readonly env: Env,
  ) {}

  check<Key extends string>(key: Key): PromiseLike<HealthIndicatorResult<Key>> {
    const options = brokerClientOptions(this.env, 'health') as unknown as {
      transport: number;
      options?: object;
    };
    return this.microservice.pingCheck(key, options).withTimeout(2000);
  }
}
