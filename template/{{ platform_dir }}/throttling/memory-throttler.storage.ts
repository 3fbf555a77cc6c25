import type { ThrottlerStorage } from '@nestjs/throttler';

type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

interface Window {
  hits: number;
  endsAt: number;
  blockedUntil: number;
}

const seconds = (milliseconds: number): number => Math.ceil(Math.max(milliseconds, 0) / 1000);

/**
 * @nestjs/throttler's storage in this process, with the fixed windows of RedisThrottlerStorage: one
 * counter per client and window, so a request costs the same however many came before it (the
 * library's default storage keeps a timestamp per hit and filters them on every request).
 */
export class MemoryThrottlerStorage implements ThrottlerStorage {
  private readonly windows = new Map<string, Window>();
  private nextSweep = 0;

  increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
  ): Promise<ThrottlerStorageRecord> {
    const now = Date.now();
    this.sweep(now, ttl);
    let window = this.windows.get(key);
    if (window === undefined) {
      window = { hits: 0, endsAt: now + ttl, blockedUntil: 0 };
      this.windows.set(key, window);
    } else if (window.endsAt <= now) {
      window.hits = 0;
      window.endsAt = now + ttl;
    }
    if (window.blockedUntil <= now) {
      window.hits += 1;
      if (window.hits > limit) {
        window.blockedUntil = now + Math.max(blockDuration, 1);
      }
    }
    const isBlocked = window.blockedUntil > now;
    return Promise.resolve({
      totalHits: window.hits,
      timeToExpire: seconds(window.endsAt - now),
      isBlocked,
      timeToBlockExpire: isBlocked ? seconds(window.blockedUntil - now) : 0,
    });
  }

  /** Forgets the clients whose window and block are over, at most once per window length. */
  private sweep(now: number, ttl: number): void {
    if (now < this.nextSweep) {
      return;
    }
    this.nextSweep = now + ttl;
    for (const [key, window] of this.windows) {
      if (window.endsAt <= now && window.blockedUntil <= now) {
        this.windows.delete(key);
      }
    }
  }
}
