import { jest } from '@jest/globals';
import { HttpException, HttpStatus } from '@nestjs/common';
import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { SkipThrottle, ThrottlerGuard, ThrottlerStorageService } from '@nestjs/throttler';
import type { Env } from '../config/env';
import { throttlerOptions } from './throttler-options';

class Orders {
  list(): void {}
  get(): void {}
}

@SkipThrottle()
class Health {
  live(): void {}
}

function context(
  classRef: object,
  handler: () => void,
  response: object = { header: jest.fn() },
  type = 'http',
): ExecutionContext {
  const request = { ip: '10.0.0.1', headers: {} };
  return {
    getType: () => type,
    getClass: () => classRef,
    getHandler: () => handler,
    switchToHttp: () => ({ getRequest: () => request, getResponse: () => response }),
    // An RPC context here is a broker's: its context object is not a gRPC call's metadata.
    switchToRpc: () => ({ getContext: () => ({}) }),
  } as unknown as ExecutionContext;
}

describe('rate limiting with @nestjs/throttler', () => {
  let storage: ThrottlerStorageService;

  async function guard(limit: number): Promise<ThrottlerGuard> {
    const env = { RATE_LIMIT_PER_MINUTE: limit } as Env;
    const created = new ThrottlerGuard(throttlerOptions(env, storage), storage, new Reflector());
    await created.onModuleInit();
    return created;
  }

  beforeEach(() => {
    storage = new ThrottlerStorageService();
  });

  afterEach(() => {
    // The library's storage forgets a client with a timer per window.
    storage.onApplicationShutdown();
  });

  it('allows RATE_LIMIT_PER_MINUTE requests per client over all routes, then answers 429', async () => {
    const limited = await guard(2);
    const response = { header: jest.fn() };
    await expect(limited.canActivate(context(Orders, Orders.prototype.list))).resolves.toBe(true);
    await expect(limited.canActivate(context(Orders, Orders.prototype.get))).resolves.toBe(true);
    const refused = await limited
      .canActivate(context(Orders, Orders.prototype.list, response))
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(HttpException);
    expect((refused as HttpException).getStatus()).toBe(HttpStatus.TOO_MANY_REQUESTS);
    expect((refused as HttpException).message).toBe('Too many requests; retry later.');
    expect(response.header).toHaveBeenCalledWith('Retry-After', expect.any(Number));
  });

  it('skips routes marked @SkipThrottle() and non-HTTP contexts', async () => {
    const closed = await guard(0);
    await expect(closed.canActivate(context(Health, Health.prototype.live))).resolves.toBe(true);
    const rpc = context(Orders, Orders.prototype.list, {}, 'rpc');
    await expect(closed.canActivate(rpc)).resolves.toBe(true);
    await expect(closed.canActivate(context(Orders, Orders.prototype.list))).rejects.toThrow(
      HttpException,
    );
  });
});
