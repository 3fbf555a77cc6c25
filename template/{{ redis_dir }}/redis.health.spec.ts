import { HealthIndicatorService } from '@nestjs/terminus';
import type { Redis } from 'ioredis';
import { RedisHealthIndicator } from './redis.health';

describe('RedisHealthIndicator', () => {
  it('is up when PING answers and down when it fails', async () => {
    const health = new HealthIndicatorService();
    const up = new RedisHealthIndicator(
      { ping: () => Promise.resolve('PONG') } as unknown as Redis,
      health,
    );
    expect((await up.check('redis')).redis.status).toBe('up');
    const down = new RedisHealthIndicator(
      { ping: () => Promise.reject(new Error('ECONNREFUSED')) } as unknown as Redis,
      new HealthIndicatorService(),
    );
    expect((await down.check('redis')).redis.status).toBe('down');
  });
});
