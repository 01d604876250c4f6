import { channel } from 'node:diagnostics_channel';

/**
 * The diagnostics channels hotpath/db publishes on. Publishers check `hasSubscribers` first, so
 * an unobserved channel costs one property read.
 */
export const dbChannels = {
  /** Every query through an instrumented pool: {@link QueryEvent}. */
  query: channel('hotpath:db:query'),
  /** Every client handed out by an instrumented pool: `{ waitMs, error? }`. */
  acquire: channel('hotpath:db:acquire'),
  /** A client held past the leak threshold: {@link LeakReport}. */
  leak: channel('hotpath:db:leak'),
  /** A query past the slow threshold, with its plan: {@link SlowQueryEntry}. */
  slowQuery: channel('hotpath:db:slow-query'),
  /** A query shape repeated in one request: {@link NPlusOneReport}. */
  nPlusOne: channel('hotpath:db:n-plus-one'),
} as const;

/** The message published on `hotpath:db:query`. */
export interface QueryEvent {
  text: string;
  fingerprint: string;
  fingerprintId: string;
  durationMs: number;
  rows: number;
  error: unknown;
}
