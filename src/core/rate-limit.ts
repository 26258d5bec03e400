import { sleep } from './async-queue.js';

/**
 * Token bucket for snapshot reads: at most `perSecond` units a second on average, with a burst
 * of one second's worth. Units may be taken before the work (rows asked for) or after it
 * (bytes actually read): taking more than is available puts the bucket in debt, and the next
 * `take` waits the debt off. 0 means no limit. Only the snapshot is limited — never the stream,
 * which must not fall behind the server's binlog retention.
 */
export class RateLimiter {
  #tokens: number;
  #last = Date.now();

  constructor(private perSecond: number) {
    this.#tokens = perSecond;
  }

  get limit(): number {
    return this.perSecond;
  }

  /** Changes the rate while running (0 = no limit). */
  setLimit(perSecond: number): void {
    this.perSecond = perSecond;
    this.#tokens = Math.min(this.#tokens, perSecond);
  }

  #refill(): void {
    const now = Date.now();
    this.#tokens = Math.min(this.perSecond, this.#tokens + ((now - this.#last) * this.perSecond) / 1000);
    this.#last = now;
  }

  /** Takes `n` units, waiting while the bucket is in debt. */
  async take(n: number, signal?: AbortSignal): Promise<void> {
    if (this.perSecond <= 0) return;
    this.#refill();
    while (this.#tokens < 0 && !signal?.aborted && this.perSecond > 0) {
      await sleep(Math.min(1000, Math.ceil((-this.#tokens * 1000) / this.perSecond)), signal);
      this.#refill();
    }
    this.#tokens -= n;
  }
}
