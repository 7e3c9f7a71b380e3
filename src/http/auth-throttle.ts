export interface AuthThrottleOptions {
  /** Failed authentications an address may make at once (the bucket size); default 10. */
  burst?: number;
  /** Seconds for an empty bucket to refill completely; default 60 (10 failures a minute). */
  refillSeconds?: number;
  /** Addresses remembered at most; the least recently failing is forgotten first. Default 10,000. */
  maxAddresses?: number;
}

type Bucket = { tokens: number; atMs: number };

/**
 * A token bucket of failed authentications per client address, in memory. Each failure takes a
 * token; tokens come back at `burst / refillSeconds` per second. A failure that finds the bucket
 * empty is throttled (the caller answers 429 with `Retry-After`). Successes never take tokens and
 * are never throttled. Time comes in as an argument (milliseconds), so it is testable without
 * waiting. Memory is bounded: an address whose bucket is full again is dropped, and past
 * `maxAddresses` the least recently failing one is forgotten (an attacker with that many
 * addresses gets fresh buckets, which costs it nothing it did not already have).
 */
export class AuthThrottle {
  private readonly buckets = new Map<string, Bucket>();
  readonly burst: number;
  private readonly perMs: number;
  private readonly maxAddresses: number;
  private sweptAtMs = 0;

  constructor(options: AuthThrottleOptions = {}) {
    this.burst = options.burst ?? 10;
    this.perMs = this.burst / ((options.refillSeconds ?? 60) * 1000);
    this.maxAddresses = options.maxAddresses ?? 10_000;
  }

  /** Addresses currently remembered. */
  get size(): number {
    return this.buckets.size;
  }

  /** Counts one failed authentication of `address`; says whether to throttle it and for how long. */
  fail(
    address: string,
    nowMs: number,
  ): { throttled: false } | { throttled: true; retryAfterSeconds: number } {
    if (nowMs - this.sweptAtMs >= 10_000) this.sweep(nowMs);
    const bucket = this.current(address, nowMs);
    this.buckets.delete(address); // re-inserted last: Map order is the eviction order
    if (bucket.tokens >= 1) {
      this.buckets.set(address, { tokens: bucket.tokens - 1, atMs: nowMs });
      this.evict();
      return { throttled: false };
    }
    this.buckets.set(address, bucket);
    this.evict();
    return {
      throttled: true,
      retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.perMs / 1000)),
    };
  }

  private current(address: string, nowMs: number): Bucket {
    const stored = this.buckets.get(address);
    if (!stored) return { tokens: this.burst, atMs: nowMs };
    const refilled = stored.tokens + Math.max(0, nowMs - stored.atMs) * this.perMs;
    return { tokens: Math.min(this.burst, refilled), atMs: nowMs };
  }

  private evict(): void {
    while (this.buckets.size > this.maxAddresses) {
      const oldest = this.buckets.keys().next();
      if (oldest.done) return;
      this.buckets.delete(oldest.value);
    }
  }

  /** Forgets the addresses whose bucket has refilled completely (at most every 10 s, from `fail`). */
  sweep(nowMs: number): void {
    this.sweptAtMs = nowMs;
    for (const [address, bucket] of this.buckets) {
      if (bucket.tokens + (nowMs - bucket.atMs) * this.perMs >= this.burst) this.buckets.delete(address);
    }
  }
}
