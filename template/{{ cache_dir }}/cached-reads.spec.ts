import { jest } from '@jest/globals';
import type { Cache } from 'cache-manager';
import { Registry } from 'prom-client';
import type { MetricsService } from '../metrics/metrics.service';
import { CachedReads } from './cached-reads';

interface Item {
  id: string;
  at: Date;
}

const revive = (cached: Item): Item => ({ ...cached, at: new Date(cached.at) });

function readsOver(cache: Partial<Cache>, registry = new Registry()): CachedReads {
  return new CachedReads(cache as Cache, 'shop:cache', { registry } as MetricsService);
}

describe('CachedReads', () => {
  it('loads on a miss, caches under the service prefix, and answers the next read from the cache', async () => {
    const entries = new Map<string, string>();
    const cache = {
      get: (key: string) =>
        Promise.resolve(entries.has(key) ? JSON.parse(entries.get(key)!) : undefined),
      set: (key: string, value: unknown) =>
        Promise.resolve(entries.set(key, JSON.stringify(value))),
    };
    const registry = new Registry();
    const reads = readsOver(cache as unknown as Partial<Cache>, registry);
    const load = jest.fn(() => Promise.resolve({ id: '1', at: new Date('2026-01-01T00:00:00Z') }));
    await reads.read('items:item:1', load, revive);
    const again = await reads.read('items:item:1', load, revive);
    expect(load).toHaveBeenCalledTimes(1);
    expect(again?.at).toEqual(new Date('2026-01-01T00:00:00Z'));
    expect([...entries.keys()]).toEqual(['shop:cache:items:item:1']);
    const metrics = await registry.metrics();
    expect(metrics).toMatch(/^cache_reads_total\{result="hit"\} 1$/m);
    expect(metrics).toMatch(/^cache_reads_total\{result="miss"\} 1$/m);
  });

  it('does not cache a record that does not exist', async () => {
    const set = jest.fn(() => Promise.resolve());
    const reads = readsOver({ get: () => Promise.resolve(undefined), set } as Partial<Cache>);
    await expect(
      reads.read('items:item:2', () => Promise.resolve(null), revive),
    ).resolves.toBeNull();
    expect(set).not.toHaveBeenCalled();
  });

  it('reads from the loader when the cache fails, and evicts without throwing', async () => {
    const failing = () => Promise.reject(new Error('ECONNREFUSED'));
    const registry = new Registry();
    const reads = readsOver({ get: failing, set: failing, del: failing }, registry);
    const item = { id: '3', at: new Date() };
    await expect(reads.read('items:item:3', () => Promise.resolve(item), revive)).resolves.toBe(
      item,
    );
    await expect(reads.evict('items:item:3')).resolves.toBeUndefined();
    expect(await registry.metrics()).toMatch(/^cache_reads_total\{result="error"\} 1$/m);
  });
});
