import { AsyncLocalStorage } from 'node:async_hooks';
import { InvalidOptionError } from '../../errors/index.js';
import { checkNumber } from '../../internal/validate-options.js';
import { callSiteOf } from './call-site.js';
import { dbChannels } from './channels.js';
import type { Fingerprint } from './fingerprint.js';
import { NPlusOneError } from '../errors.js';

/** Options of {@link NPlusOneDetector}. */
export interface NPlusOneDetectorOptions {
  /**
   * Runs of one query shape in one request that count as N+1.
   * @defaultValue 5
   */
  threshold?: number;
  /**
   * `warn` reports (callback, diagnostics channel, one process warning per shape), `strict`
   * also fails the query with {@link NPlusOneError} (for tests), `off` does nothing.
   * @defaultValue 'warn'
   */
  mode?: 'warn' | 'strict' | 'off';
  /** Called with each report (once per shape per request). */
  onDetect?: (report: NPlusOneReport) => void;
}

/** One N+1 finding. */
export interface NPlusOneReport {
  /** The request's label, e.g. `GET /api/users/:id/payments`; `(unknown)` when none was given. */
  route: string;
  /** The normalized query. */
  fingerprint: string;
  fingerprintId: string;
  /** Runs in the request when reported (the threshold). */
  count: number;
  /** The application frame that issued the query that crossed the threshold. */
  callSite: string | undefined;
}

interface RequestScope {
  route: string;
  counts: Map<string, number>;
  reports: NPlusOneReport[];
}

/**
 * Finds N+1 queries per request, the way Rails' Bullet and Django's nplusone do, at the driver
 * layer: an instrumented pool calls {@link NPlusOneDetector.observe} for every query, so it sees
 * raw SQL and ORM queries alike. A request is a {@link NPlusOneDetector.run} scope
 * (AsyncLocalStorage); queries outside any scope are ignored.
 *
 * @example
 * const detector = new NPlusOneDetector({ threshold: 5 });
 * const db = instrumentPool(pool, { nPlusOne: detector });
 * fastify.addHook('onRequest', (req, _reply, done) =>
 *   detector.run(req.routeOptions.url ?? req.url, done));
 */
export class NPlusOneDetector {
  readonly #threshold: number;
  readonly #mode: 'warn' | 'strict' | 'off';
  readonly #onDetect: ((report: NPlusOneReport) => void) | undefined;
  readonly #storage = new AsyncLocalStorage<RequestScope>();
  readonly #warned = new Set<string>();
  #detected = 0;

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` on a bad option. */
  constructor(options: NPlusOneDetectorOptions = {}) {
    this.#threshold = checkNumber('threshold', options.threshold ?? 5, { min: 2, integer: true });
    const mode = options.mode ?? 'warn';
    if (mode !== 'warn' && mode !== 'strict' && mode !== 'off') {
      throw new InvalidOptionError('mode', `expected "warn", "strict" or "off", got ${mode}`);
    }
    this.#mode = mode;
    if (options.onDetect !== undefined && typeof options.onDetect !== 'function') {
      throw new InvalidOptionError('onDetect', 'expected a function');
    }
    this.#onDetect = options.onDetect;
  }

  /** Runs `fn` as one request labelled `route`; queries it issues (even later, async) count together. */
  run<T>(route: string, fn: () => T): T {
    // Off: no scope, so no AsyncLocalStorage (on Node 20 its first run() turns on promise
    // hooks for the whole process, a cost every later promise pays).
    if (this.#mode === 'off') return fn();
    return this.#storage.run({ route, counts: new Map(), reports: [] }, fn);
  }

  /** Reports made so far in the current request (empty outside a request). */
  reports(): readonly NPlusOneReport[] {
    return this.#storage.getStore()?.reports ?? [];
  }

  /** Findings since the detector was made, over all requests. */
  get detected(): number {
    return this.#detected;
  }

  /**
   * Counts one query of shape `fp` in the current request.
   * @throws {@link NPlusOneError} `HP_ERR_DB_N_PLUS_ONE` in strict mode, from the query that
   *   reaches the threshold and every later one of that shape in the request.
   */
  observe(fp: Fingerprint): void {
    if (this.#mode === 'off') return;
    const scope = this.#storage.getStore();
    if (scope === undefined) return;
    const count = (scope.counts.get(fp.id) ?? 0) + 1;
    scope.counts.set(fp.id, count);
    if (count < this.#threshold) return;
    if (count === this.#threshold) this.#report(scope, fp, count);
    if (this.#mode === 'strict') {
      throw new NPlusOneError(
        fp.normalized,
        count,
        `N+1 query in ${scope.route}: ran ${count} times in one request: ${fp.normalized}`,
      );
    }
  }

  #report(scope: RequestScope, fp: Fingerprint, count: number): void {
    const report: NPlusOneReport = {
      route: scope.route,
      fingerprint: fp.normalized,
      fingerprintId: fp.id,
      count,
      callSite: callSiteOf(new Error().stack),
    };
    scope.reports.push(report);
    this.#detected++;
    if (dbChannels.nPlusOne.hasSubscribers) dbChannels.nPlusOne.publish(report);
    if (this.#onDetect !== undefined) this.#onDetect(report);
    else if (this.#mode === 'warn' && !this.#warned.has(fp.id)) {
      this.#warned.add(fp.id);
      process.emitWarning(
        `N+1 query in ${report.route}: ${count} runs of "${report.fingerprint}" at ${report.callSite ?? '(unknown)'}; batch it (BatchLoader) or join`,
        { code: 'HP_WARN_DB_N_PLUS_ONE' },
      );
    }
  }
}
