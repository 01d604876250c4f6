/** One completed call, as a {@link LimitAlgorithm} sees it. */
export interface LimitSample {
  /** When the call completed, in ms of the limiter's clock. */
  nowMs: number;
  /** How long the call took from the moment it started running (queue wait excluded), in ms. */
  rttMs: number;
  /** Calls in flight when this one started, itself included. */
  inFlight: number;
  /**
   * Whether the call signalled overload (a timeout, a 503 from the dependency) rather than a
   * latency: the algorithm backs off, and `rttMs` is not a latency sample.
   */
  didDrop: boolean;
}

/**
 * How an adaptive concurrency limit moves: fed every completed call, it says how many calls
 * may be in flight. A strategy of {@link ConcurrencyLimiter}; {@link GradientLimit} is the
 * one hotpath ships.
 */
export interface LimitAlgorithm {
  /** Calls allowed in flight now (the limiter admits while in flight is below it). */
  readonly limit: number;
  /** Records one completed call. */
  update(sample: LimitSample): void;
}
