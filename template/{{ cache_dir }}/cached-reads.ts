import { Inject, Injectable, Logger } from '@nestjs/common';
import { CACHE_MANAGER } from '@nestjs/cache-manager';
import type { Cache } from 'cache-manager';
import { Counter } from 'prom-client';
import { MetricsService } from '../metrics/metrics.service';

/** The service's prefix of its cache keys: services that share a Redis keep separate entries. */
export const CACHE_KEY_PREFIX = Symbol('CACHE_KEY_PREFIX');

/**
 * Reads by id through the shared cache (cache-aside): a hit is answered from Redis, a miss from
 * the loader, whose record is then cached for CACHE_TTL_SECONDS; writes evict. The cache is an
 * optimisation only: when Redis fails, the read goes to the loader and the request still succeeds.
 * `cache_reads_total` counts hits, misses and failed cache calls.
 */
@Injectable()
export class CachedReads {
  private readonly logger = new Logger(CachedReads.name);
  private readonly reads: Counter;

  constructor(
    @Inject(CACHE_MANAGER) private readonly cache: Cache,
    @Inject(CACHE_KEY_PREFIX) private readonly prefix: string,
    metrics: MetricsService,
  ) {
    this.reads = new Counter({
      name: 'cache_reads_total',
      help: 'Reads by id through the Redis cache: hit, miss, or error (answered from the database)',
      labelNames: ['result'],
      registers: [metrics.registry],
    });
  }

  /**
   * The record under `key`: from the cache (`revive` turns the cached JSON back into it), else from
   * `load`, which is then cached. Null when `load` finds none (not cached).
   */
  async read<T extends object>(
    key: string,
    load: () => Promise<T | null>,
    revive: (cached: T) => T,
  ): Promise<T | null> {
    const name = `${this.prefix}:${key}`;
    const cached = await this.attempt(() => this.cache.get<T>(name));
    if (cached) {
      this.reads.inc({ result: 'hit' });
      return revive(cached);
    }
    this.reads.inc({ result: cached === null ? 'error' : 'miss' });
    const loaded = await load();
    if (loaded) {
      await this.attempt(() => this.cache.set(name, loaded));
    }
    return loaded;
  }

  /** Forgets the record under `key`: every write of it calls this. */
  async evict(key: string): Promise<void> {
    await this.attempt(() => this.cache.del(`${this.prefix}:${key}`));
  }

  /** The cache call's result, or null when it failed: the caller then does without the cache. */
  private async attempt<R>(call: () => Promise<R>): Promise<R | null> {
    try {
      return await call();
    } catch (error) {
      this.logger.warn(`cache skipped: ${String(error)}`);
      return null;
    }
  }
}
