import type { ExecutionContext } from '@nestjs/common';
import type { ThrottlerModuleOptions, ThrottlerStorage } from '@nestjs/throttler';
import type { Env } from '../config/env';
import { isCallerFacing } from '../http/execution-context';

/** The window of RATE_LIMIT_PER_MINUTE, in milliseconds. */
export const RATE_LIMIT_TTL_MS = 60_000;

/**
 * The settings of @nestjs/throttler's global ThrottlerGuard: RATE_LIMIT_PER_MINUTE requests per
 * client IP and one-minute window, counted over all routes together. The library's own storage counts
 * in this process unless another is given (RedisThrottlerStorage shares the counters between replicas). Requests
 * of the transports that carry an HTTP request (isCallerFacing) are limited; routes marked
 * @SkipThrottle() (health, metrics) are not.
 */
export function throttlerOptions(env: Env, storage?: ThrottlerStorage): ThrottlerModuleOptions {
  return {
    throttlers: [{ ttl: RATE_LIMIT_TTL_MS, limit: env.RATE_LIMIT_PER_MINUTE }],
    skipIf: (context: ExecutionContext) => !isCallerFacing(context),
    // One counter per client (the tracker is the client IP), whichever route it calls.
    generateKey: (_context, tracker, name) => `${name}:${tracker}`,
    errorMessage: 'Too many requests; retry later.',
    storage,
  };
}
