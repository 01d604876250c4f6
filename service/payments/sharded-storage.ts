/**
 * The payments service on several databases (DATABASE_SHARD_URLS): each shard instrumented as
 * the one database is (query stats, slow-query log with EXPLAIN on that shard, the request's
 * N+1 detector), its series labelled by shard, and a readiness check per shard.
 */
import type { FastifyInstance } from 'fastify';
import { SlowQueryLog, instrumentDatabase, type Database } from 'hotpath/db';
import type { DatabaseInsights } from '../plugins/database-insights.js';
import type { ReadinessCheck } from '../readiness.js';
import { PaymentShards } from './payment-shards.js';
import { PaymentRepository } from './repository.js';
import type { ShardForMetrics } from './shard-metrics.js';

/** The payments' shards, and the readiness checks that report them. */
export interface ShardedStorage {
  shards: PaymentShards;
  /**
   * `database` (critical: fails only when no shard answers, since the users of every other
   * shard are still served) and `database-shard-<i>` per shard (not critical: one shard down
   * degrades readiness and names the shard).
   */
  checks: ReadinessCheck[];
  /** For `shardMetrics` once the app's observability is registered. */
  metrics: ShardForMetrics[];
}

/**
 * Builds the shards over `raws` (in shard order). `insights` instruments `raws[0]`; the other
 * shards share its N+1 detector and get their own stats and slow-query log.
 */
export function shardedStorage(
  app: FastifyInstance,
  raws: readonly Database[],
  insights: DatabaseInsights,
  options: { slowQueryMs: number; log: (entry: object, message: string) => void },
): ShardedStorage {
  const logs: SlowQueryLog[] = [];
  const dbs = raws.map((raw, index) => {
    if (index === 0) return insights.db;
    const slowQueries = new SlowQueryLog({
      pool: raw,
      thresholdMs: options.slowQueryMs,
      onSlowQuery: (entry) => options.log({ ...entry, shard: index }, 'slow query'),
    });
    logs.push(slowQueries);
    return instrumentDatabase(raw, { nPlusOne: insights.nPlusOne, slowQueries });
  });
  app.addHook('onClose', async () => {
    await Promise.all(logs.map((log) => log.close()));
  });
  const checks: ReadinessCheck[] = [
    {
      name: 'database',
      critical: true,
      check: async () => {
        try {
          await Promise.any(raws.map((raw) => raw.ping(1000)));
        } catch {
          throw new Error(`none of the ${raws.length} shards answers`);
        }
      },
    },
    ...raws.map((raw, index): ReadinessCheck => ({
      name: `database-shard-${index}`,
      critical: false,
      check: () => raw.ping(1000),
    })),
  ];
  return {
    shards: new PaymentShards(dbs.map((db) => new PaymentRepository(db))),
    checks,
    metrics: dbs.map((db, index) => ({ index, db, raw: raws[index]! })),
  };
}
