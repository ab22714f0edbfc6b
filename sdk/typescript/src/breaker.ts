/**
 * A circuit breaker (seed §6.6): after `failureThreshold` calls in a row fail with what a
 * retry could heal (no answer, 500, 502-504), calls fail at once with `CircuitOpenError` for
 * `resetTimeoutMs`; then one probe call is let through (half-open), and its outcome closes
 * the circuit or opens it again. Refusals (4xx, 429 included) are answers, not failures: a
 * server that answers is up. cifer/sdk/breaker.py has the same states and option names.
 */

import { CircuitOpenError } from './errors.js';

export interface CircuitBreakerOptions {
  /** Consecutive failed calls that open the circuit; 5 by default. */
  failureThreshold?: number;
  /** Milliseconds the circuit stays open before one probe call is let through; 30 000 by default. */
  resetTimeoutMs?: number;
}

export type CircuitState = 'closed' | 'open' | 'half-open';

export class CircuitBreaker {
  readonly failureThreshold: number;
  readonly resetTimeoutMs: number;
  private failures = 0;
  private openedAt = 0;
  private probing = false;
  private opened = false;

  constructor(options: CircuitBreakerOptions = {}, private readonly now: () => number = Date.now) {
    this.failureThreshold = options.failureThreshold ?? 5;
    this.resetTimeoutMs = options.resetTimeoutMs ?? 30_000;
    if (!Number.isInteger(this.failureThreshold) || this.failureThreshold < 1) throw new RangeError('failureThreshold must be an integer >= 1');
    if (!(this.resetTimeoutMs >= 0)) throw new RangeError('resetTimeoutMs must not be negative');
  }

  get state(): CircuitState {
    if (!this.opened) return 'closed';
    return this.now() - this.openedAt >= this.resetTimeoutMs ? 'half-open' : 'open';
  }

  /** Before sending: throws CircuitOpenError while open, and lets one probe through when half-open. */
  before(): void {
    const state = this.state;
    if (state === 'closed') return;
    if (state === 'half-open' && !this.probing) {
      this.probing = true;
      return;
    }
    const waitMs = Math.max(0, this.resetTimeoutMs - (this.now() - this.openedAt));
    throw new CircuitOpenError('the CIFER API failed repeatedly; calls are paused (circuit breaker open)', {
      retryAfter: waitMs / 1000,
    });
  }

  success(): void {
    this.failures = 0;
    this.opened = false;
    this.probing = false;
  }

  /** An attempt that ended before its outcome was known (a source or a credential function threw): the probe is free again. */
  release(): void {
    this.probing = false;
  }

  failure(): void {
    this.failures += 1;
    if (this.probing || this.failures >= this.failureThreshold) {
      this.opened = true;
      this.openedAt = this.now();
    }
    this.probing = false;
  }
}
