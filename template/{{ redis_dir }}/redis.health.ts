import type { HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import type { Redis } from 'ioredis';

/** Readiness of Redis: a PING within 1.5 s. */
export class RedisHealthIndicator {
  constructor(
    private readonly redis: Redis,
    private readonly health: HealthIndicatorService,
  ) {}

  check<Key extends string>(key: Key): PromiseLike<HealthIndicatorResult<Key>> {
    return this.health
      .check(key)
      .attempt(async () => {
        await this.redis.ping();
      })
      .withTimeout(1500);
  }
}
