import { Global, Inject, Logger, Module } from '@nestjs/common';
import type { OnApplicationShutdown } from '@nestjs/common';
import { HealthIndicatorService, TerminusModule } from '@nestjs/terminus';
import { Redis } from 'ioredis';
import { ENV } from '../config/env';
import type { Env } from '../config/env';
import { MetricsService } from '../metrics/metrics.service';
import { REDIS } from './redis.constants';
import { RedisHealthIndicator } from './redis.health';

/** One shared ioredis connection (rate-limit storage, cache, readiness), closed on shutdown. */
@Global()
@Module({
  imports: [TerminusModule],
  providers: [
    {
      provide: REDIS,
      inject: [ENV],
      useFactory: (env: Env) => {
        const logger = new Logger('Redis');
        const client = new Redis(env.REDIS_URL, {
          maxRetriesPerRequest: 1,
          enableOfflineQueue: false,
          lazyConnect: false,
        });
        client.on('error', (error: Error) => logger.warn(`redis: ${error.message}`));
        return client;
      },
    },
    {
      provide: RedisHealthIndicator,
      inject: [REDIS, HealthIndicatorService, MetricsService],
      useFactory: (redis: Redis, health: HealthIndicatorService, metrics: MetricsService) =>
        new RedisHealthIndicator(redis, health, metrics.registry),
    },
  ],
  exports: [REDIS, RedisHealthIndicator],
})
export class RedisModule implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
