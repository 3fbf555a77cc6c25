import type { Principal } from './principal';

interface Entry {
  principal: Principal;
  expiresAt: number;
}

/**
 * Tokens that passed verification, each kept until its `exp` and at most `maxAgeMs`. A client
 * sends the same token with every call of its lifetime, and verifying it again is a WebCrypto job
 * on libuv's thread pool per request. Entries are keyed by the whole compact token, signature
 * included, so only the exact token that was verified matches; a token without `exp` is not kept.
 * The oldest entry is dropped when `capacity` is reached. Principals are frozen: one object serves
 * every request that carries the token.
 */
export class VerifiedTokens {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly capacity = 10_000,
    private readonly maxAgeMs = 5 * 60_000,
  ) {}

  get(token: string, now = Date.now()): Principal | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) {
      return undefined;
    }
    if (entry.expiresAt <= now) {
      this.entries.delete(token);
      return undefined;
    }
    return entry.principal;
  }

  remember(token: string, principal: Principal, now = Date.now()): Principal {
    Object.freeze(principal.roles);
    Object.freeze(principal.claims);
    Object.freeze(principal);
    const { exp } = principal.claims;
    if (typeof exp !== 'number') {
      return principal;
    }
    if (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) {
        this.entries.delete(oldest.value);
      }
    }
    this.entries.set(token, { principal, expiresAt: Math.min(exp * 1000, now + this.maxAgeMs) });
    return principal;
  }
}
