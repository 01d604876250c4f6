/**
 * What an experiment is: one technique, the service settings of its naive variant and of the
 * optimized one(s), the request mix that exercises it, the rate it is compared at and the
 * figure its regression gate reads. Each file of experiments/techniques/ exports one.
 */
import type { RequestMix } from 'hotpath/load';
import type { Direction } from './lib/stats.js';

/** A data set: `npm run seed -- --users N --payments M` into a fresh database. */
export interface Dataset {
  name: string;
  users: number;
  payments: number;
}

/** One setting of the service: environment variables of service/config.ts. */
export interface Variant {
  name: string;
  env: Record<string, string>;
  /** Embedded PGlite in a seeded data directory instead of the PostgreSQL server, no Redis. */
  isEmbedded?: boolean;
}

/** What a mix may read from the seeded database (payment ids, cursors deep in a history). */
export interface MixContext {
  /** Runs SQL on the data set's PostgreSQL database. */
  query<Row>(sql: string, params?: unknown[]): Promise<Row[]>;
  dataset: Dataset;
  variant: Variant;
}

/** Figures measured per round; each is a cost (lower is better) unless marked. */
export interface RoundFigures {
  /** Responses completed in the measured window. */
  requests: number;
  /** Completed responses per second. */
  rps: number;
  /** 2xx responses per second (higher is better). */
  goodput: number;
  /** Share of responses that are neither 2xx nor an expected refusal, plus failures. */
  errorShare: number;
  /** Share of requests refused by design (429, 503). */
  refusedShare: number;
  /** Share of requests answered 429 (rate limited). */
  limitedShare: number;
  /** Share of requests answered 503 (shed, or the service unavailable). */
  shedShare: number;
  p50Ms: number;
  p99Ms: number;
  /** p99 of the admitted (2xx) requests alone, from the intended send time. */
  admittedP99Ms: number;
  /**
   * p50 of the round's last whole second less its first's: near 0 when the service keeps up,
   * growing with the round when a queue builds up.
   */
  p50RiseMs: number;
  /** Server CPU (user + system, all threads) per completed request. */
  cpuPerRequestMs: number;
  queriesPerRequest: number;
  /** Response bytes (head and body) per completed request. */
  bytesPerResponse: number;
  /** The service's event-loop delay p99 over its last 10 s (/metrics). */
  eventLoopP99Ms: number;
  rssMb: number;
}

export type RoundMetric = keyof RoundFigures;

export interface Experiment {
  /** Command-line name: `npm run experiments -- <name>`. */
  name: string;
  /** The technique, in a few words. */
  technique: string;
  /** What the experiment shows, one or two sentences, for the report. */
  description: string;
  dataset: Dataset;
  /** The naive variant first; every other variant is compared with it. */
  variants: readonly [Variant, ...Variant[]];
  /**
   * Settings every variant shares, on top of the runner's base and under each variant's own
   * (e.g. the gateway simulator's latency, so that it does not set the knee).
   */
  env?: Record<string, string>;
  /**
   * An overload experiment (with `rate: { overload }`): each variant is also measured unloaded,
   * at `unloadedShare` of the naive knee, and the report judges each variant at the common
   * rate: goodput at least `goodputOfKnee` times the naive knee's goodput, and p99 of admitted
   * (2xx) requests at most `p99OfUnloaded` times its own unloaded p99.
   */
  overload?: { unloadedShare: number; goodputOfKnee: number; p99OfUnloaded: number };
  /** The variants the regression gate checks against the naive one (default: all others). */
  gated?: readonly string[];
  mix: (context: MixContext) => Promise<RequestMix> | RequestMix;
  /**
   * Faults set on each variant's gateway simulator once the service is ready (`POST /_faults`,
   * docs/gateway-simulator.md), kept for the whole experiment.
   */
  gatewayFaults?: Record<string, unknown>;
  /** Connections the open model may open (the concurrency ceiling). @defaultValue 100 */
  connections?: number;
  /**
   * The common rate of the per-round measurements: a share of the lowest knee of the
   * variants (`{ share: 0.5 }`), a multiple of the naive variant's knee (`{ overload: 2 }`), or
   * requests per second.
   */
  rate: { share: number } | { overload: number } | number;
  /**
   * What a knee step must hold besides serving 95% of its rate, as a `hotpath load`
   * threshold; or `'capacity'`: the knee is the service's throughput in the closed model (32
   * requests in flight, best of 3 runs of twice the knee step after one unrecorded), which an overload experiment
   * wants, and which a latency threshold misreads on a machine whose other processes stall
   * this one (a search stops at the first stalled step). @defaultValue `'p99<100ms'`
   */
  kneeTarget?: string;
  /** First rate of the knee search (it doubles from there). @defaultValue 20 */
  kneeStartRate?: number;
  /** Rate used with --smoke, when no knee was searched, or when a variant has none. */
  fallbackRate: number;
  /** The figure the gate and the headline ratio read. */
  primary: RoundMetric;
  direction: Direction;
  /** Statuses that are refusals by design (counted apart, not as errors). */
  refusals?: readonly number[];
  /** What to say in the report about the figures. */
  reports: string;
}
