/**
 * Small synchronisation helpers for the runtime: a wakeable signal and a sleep that honours
 * an AbortSignal.
 */

/** A one-shot-at-a-time notifier: `wait()` resolves at the next `notify()`. */
export class Notifier {
  #waiters: (() => void)[] = [];

  wait(signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.#waiters.push(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * Resolves at the next `notify()`, after `ms`, or on abort — whichever comes first — and leaves
   * no listener or waiter behind (safe to call in a loop).
   */
  waitAtMost(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (signal?.aborted) {
        resolve();
        return;
      }
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        const i = this.#waiters.indexOf(done);
        if (i >= 0) this.#waiters.splice(i, 1);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#waiters.push(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  notify(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
