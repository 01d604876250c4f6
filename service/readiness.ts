/**
 * The dependencies the service checks for readiness, and what it last found: critical ones
 * (the database) decide whether it can serve; the others (Redis, the gateway) only degrade
 * it. Read by GET /health/ready, the `payments_dependency_up` gauge and the dashboard.
 */
import { withTimeout } from 'hotpath/resilience';

/** A dependency readiness checks. */
export interface ReadinessCheck {
  /** Its name in `/health/ready`'s `checks` and the gauge's `dependency` label. */
  name: string;
  /**
   * True when the service cannot serve without it (the database): readiness answers 503
   * while it fails. False when the service keeps serving without it (Redis, the gateway):
   * readiness answers 200 with `status: 'degraded'`.
   */
  critical: boolean;
  /** Resolves when the dependency answers; rejects saying why not. Aborted on timeout. */
  check: (signal: AbortSignal) => Promise<void>;
}

/** What one check found. */
export interface DependencyStatus {
  name: string;
  critical: boolean;
  ok: boolean;
  /** `ok`, `down: <why>` (critical) or `degraded: <why>` (not critical). */
  state: string;
}

/** One round of every check. */
export interface ReadinessReport {
  /** No critical dependency failed. */
  ready: boolean;
  /** Some non-critical dependency failed. */
  degraded: boolean;
  dependencies: DependencyStatus[];
}

/** Options of {@link Readiness}. */
export interface ReadinessOptions {
  /** Longest wait for one check, in milliseconds. @defaultValue 1000 */
  timeoutMs?: number;
}

/** Runs the checks and keeps the last report. */
export class Readiness {
  readonly #checks: readonly ReadinessCheck[];
  readonly #timeoutMs: number;
  #round: Promise<ReadinessReport> | undefined;
  #last: ReadinessReport | undefined;
  #timer: NodeJS.Timeout | undefined;

  /** @throws Error when two checks have the same name. */
  constructor(checks: readonly ReadinessCheck[], options: ReadinessOptions = {}) {
    const names = new Set<string>();
    for (const { name } of checks) {
      if (names.has(name)) throw new Error(`two readiness checks are named "${name}"`);
      names.add(name);
    }
    this.#checks = [...checks];
    this.#timeoutMs = options.timeoutMs ?? 1000;
  }

  /** The checks, in the order they report. */
  get checks(): readonly ReadinessCheck[] {
    return this.#checks;
  }

  /** The last round's report; undefined before the first round ends. */
  get last(): ReadinessReport | undefined {
    return this.#last;
  }

  /** Runs every check at once; callers while a round runs share it. Never rejects. */
  check(): Promise<ReadinessReport> {
    this.#round ??= this.#run().finally(() => {
      this.#round = undefined;
    });
    return this.#round;
  }

  /** Runs a round every `intervalMs` until {@link Readiness.close}, so the gauge stays fresh. */
  poll(intervalMs: number): void {
    if (this.#timer !== undefined) return;
    void this.check();
    this.#timer = setInterval(() => void this.check(), intervalMs);
    this.#timer.unref();
  }

  /** Stops polling. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #run(): Promise<ReadinessReport> {
    const dependencies = await Promise.all(
      this.#checks.map(async ({ name, critical, check }): Promise<DependencyStatus> => {
        try {
          // "timed out after 1000 ms" names the failure in the answer.
          await withTimeout(check, this.#timeoutMs);
          return { name, critical, ok: true, state: 'ok' };
        } catch (error) {
          const why = error instanceof Error ? error.message : String(error);
          return { name, critical, ok: false, state: `${critical ? 'down' : 'degraded'}: ${why}` };
        }
      }),
    );
    const report = {
      ready: dependencies.every((d) => d.ok || !d.critical),
      degraded: dependencies.some((d) => !d.ok && !d.critical),
      dependencies,
    };
    this.#last = report;
    return report;
  }
}
