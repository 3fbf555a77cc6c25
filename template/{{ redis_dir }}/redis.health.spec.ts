import { HealthIndicatorService } from '@nestjs/terminus';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { RedisHealthIndicator } from './redis.health';

function indicator(redis: object, registry = new Registry()): RedisHealthIndicator {
  return new RedisHealthIndicator(redis as Redis, new HealthIndicatorService(), registry);
}

describe('RedisHealthIndicator', () => {
  it('reports whether PING answers, and never fails readiness', async () => {
    const up = indicator({ ping: () => Promise.resolve('PONG') });
    expect((await up.check('redis')).redis).toEqual({ status: 'up', connected: true });
    const down = indicator({ ping: () => Promise.reject(new Error('ECONNREFUSED')) });
    expect((await down.check('redis')).redis).toEqual({
      status: 'up',
      connected: false,
      message: 'ECONNREFUSED',
    });
  });

  it('exports the connection state as the redis_connected gauge', async () => {
    const registry = new Registry();
    const redis = { status: 'ready' };
    indicator(redis, registry);
    expect(await registry.metrics()).toMatch(/^redis_connected 1$/m);
    redis.status = 'reconnecting';
    expect(await registry.metrics()).toMatch(/^redis_connected 0$/m);
  });
});
