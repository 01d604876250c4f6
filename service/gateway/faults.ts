/**
 * HTTP-level faults of the gateway simulator, the ones a TCP proxy cannot make because they
 * depend on what the gateway did with the request: answer nothing after charging, answer after
 * the client gave up, refuse the first attempts of each payment, or stop answering at all.
 * Set at start (GATEWAY_FAULTS, a JSON object) and at run time (`POST /_faults`).
 */

/** The faults in force; every field at its zero value is a healthy gateway. */
export interface GatewayFaults {
  /** Share of charge answers, in [0, 1], dropped after the charge is committed: the socket is destroyed unanswered. */
  dropAfterCommitRate: number;
  /** Charges are committed, then answered only after this many ms (0: at once). */
  lateAnswerMs: number;
  /** The first N charge attempts of each payment id answer 503 without charging. */
  failFirst: number;
  /** While true, nothing but `/_faults` is answered; requests wait and go on when thawed. */
  freeze: boolean;
}

export const NO_FAULTS: Readonly<GatewayFaults> = Object.freeze({
  dropAfterCommitRate: 0,
  lateAnswerMs: 0,
  failFirst: 0,
  freeze: false,
});

const MAX_LATE_ANSWER_MS = 3_600_000;

/**
 * Checks a faults patch (a JSON object with any of the {@link GatewayFaults} fields) and
 * returns `base` with it applied.
 * @throws Error naming the field when a field is unknown or out of range.
 */
export function parseFaults(
  input: unknown,
  base: Readonly<GatewayFaults> = NO_FAULTS,
): GatewayFaults {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw new Error('faults: expected a JSON object');
  const faults: GatewayFaults = { ...base };
  for (const [key, value] of Object.entries(input as Record<string, unknown>)) {
    switch (key) {
      case 'dropAfterCommitRate':
        if (typeof value !== 'number' || !(value >= 0 && value <= 1))
          throw new Error(
            `dropAfterCommitRate: expected a number in [0, 1], got ${JSON.stringify(value)}`,
          );
        faults.dropAfterCommitRate = value;
        break;
      case 'lateAnswerMs':
        if (
          !Number.isInteger(value) ||
          (value as number) < 0 ||
          (value as number) > MAX_LATE_ANSWER_MS
        )
          throw new Error(
            `lateAnswerMs: expected an integer in [0, ${MAX_LATE_ANSWER_MS}], got ${JSON.stringify(value)}`,
          );
        faults.lateAnswerMs = value as number;
        break;
      case 'failFirst':
        if (!Number.isInteger(value) || (value as number) < 0)
          throw new Error(`failFirst: expected an integer >= 0, got ${JSON.stringify(value)}`);
        faults.failFirst = value as number;
        break;
      case 'freeze':
        if (typeof value !== 'boolean')
          throw new Error(`freeze: expected true or false, got ${JSON.stringify(value)}`);
        faults.freeze = value;
        break;
      default:
        throw new Error(
          `${key}: unknown fault (expected dropAfterCommitRate, lateAnswerMs, failFirst, freeze)`,
        );
    }
  }
  return faults;
}

/** The faults in force and the state they need: attempts per payment id, frozen requests. */
export class FaultState {
  #faults: GatewayFaults;
  // Attempts refused so far per payment id, while failFirst > 0; dropped once the id is charged.
  readonly #attempts = new Map<string, number>();
  readonly #frozen = new Set<() => void>();

  /** @throws Error naming the field when `initial` is not a valid faults patch. */
  constructor(initial: Partial<GatewayFaults> = {}) {
    this.#faults = parseFaults(initial);
  }

  get current(): Readonly<GatewayFaults> {
    return this.#faults;
  }

  /**
   * Applies a patch (fields left out keep their value). A new `failFirst` starts counting
   * attempts afresh; `freeze: false` lets the waiting requests go on.
   * @throws Error naming the field; nothing is changed then.
   */
  update(patch: unknown): Readonly<GatewayFaults> {
    const next = parseFaults(patch, this.#faults);
    if (next.failFirst !== this.#faults.failFirst) this.#attempts.clear();
    this.#faults = next;
    if (!next.freeze) this.#thaw();
    return next;
  }

  /** Back to a healthy gateway; frozen requests go on. */
  clear(): Readonly<GatewayFaults> {
    return this.update({ ...NO_FAULTS });
  }

  /** Counts an attempt to charge `id`: true while it is one of the first `failFirst`. */
  refuseAttempt(id: string): boolean {
    if (this.#faults.failFirst === 0) return false;
    const refused = this.#attempts.get(id) ?? 0;
    if (refused >= this.#faults.failFirst) return false;
    this.#attempts.set(id, refused + 1);
    return true;
  }

  /** `id` is charged: its attempts need no counting any more. */
  charged(id: string): void {
    this.#attempts.delete(id);
  }

  /** Resolves at once when not frozen, else when thawed. */
  whenThawed(): Promise<void> {
    if (!this.#faults.freeze) return Promise.resolve();
    return new Promise((resolve) => this.#frozen.add(resolve));
  }

  #thaw(): void {
    for (const resume of this.#frozen) resume();
    this.#frozen.clear();
  }
}
