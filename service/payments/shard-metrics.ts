/**
 * The per-database panels and series of a sharded service, labelled `shard="<index>"`: queries
 * run (`payments_db_queries_total`), pool connections in use, idle and callers waiting
 * (`payments_db_pool_*`, PostgreSQL servers only), and each shard's top queries on the
 * dashboard. With one database, plugins/database-insights.ts shows the same series unlabelled.
 */
import { PostgresDatabase, type Database, type InstrumentedDatabase } from 'hotpath/db';
import type { Dashboard, MetricsRegistry } from 'hotpath/metrics';

/** One shard as the metrics see it: its index, the instrumented and the raw database. */
export interface ShardForMetrics {
  index: number;
  db: InstrumentedDatabase;
  raw: Database;
}

/** Registers the shard-labelled series and panels; read at scrape time, no per-request cost. */
export function shardMetrics(
  { dashboard, registry }: { dashboard: Dashboard; registry: MetricsRegistry },
  shards: readonly ShardForMetrics[],
): void {
  const queried = new Map<number, number>();
  const queriesTotal = registry.counter({
    name: 'payments_db_queries_total',
    help: 'Database queries run by the service (every statement, errors included), per shard',
    labelNames: ['shard'],
    collect: () => {
      for (const { index, db } of shards) {
        let now = 0;
        for (const entry of db.stats?.entries() ?? []) now += entry.calls;
        const before = queried.get(index) ?? 0;
        if (now > before) queriesTotal.labels(String(index)).inc(now - before);
        queried.set(index, now);
      }
    },
  });
  for (const { index } of shards) queriesTotal.labels(String(index));

  const pools = shards.flatMap(({ index, raw }) =>
    raw instanceof PostgresDatabase ? [{ shard: String(index), pool: raw.pool }] : [],
  );
  if (pools.length > 0) {
    const inUse = registry.gauge({
      name: 'payments_db_pool_in_use',
      help: 'Pool connections in use, per shard',
      labelNames: ['shard'],
      collect: () => {
        for (const { shard, pool } of pools)
          inUse.labels(shard).set(pool.totalCount - pool.idleCount);
      },
    });
    const idle = registry.gauge({
      name: 'payments_db_pool_idle',
      help: 'Pool connections idle, per shard',
      labelNames: ['shard'],
      collect: () => {
        for (const { shard, pool } of pools) idle.labels(shard).set(pool.idleCount);
      },
    });
    const waiting = registry.gauge({
      name: 'payments_db_pool_waiting',
      help: 'Callers waiting for a connection, per shard',
      labelNames: ['shard'],
      collect: () => {
        for (const { shard, pool } of pools) waiting.labels(shard).set(pool.waitingCount);
      },
    });
  }

  for (const { index, db, raw } of shards) {
    dashboard.addPanel({
      id: `db-top-queries-shard-${index}`,
      title: `Top queries by total time, shard ${index}`,
      kind: 'status',
      sample: () =>
        (db.stats?.top(6) ?? []).map((q) => ({
          label: q.query.length > 90 ? `${q.query.slice(0, 87)}...` : q.query,
          ok: q.errors === 0 && q.p99Ms < 200,
          detail: `${q.calls} calls, mean ${q.meanMs.toFixed(2)} ms, p99 ${q.p99Ms.toFixed(1)} ms, ${q.errors} errors`,
        })),
    });
    if (raw instanceof PostgresDatabase) {
      const pool = raw.pool;
      dashboard.addPanel({
        id: `db-pool-shard-${index}`,
        title: `Database pool, shard ${index}`,
        unit: 'connections',
        series: [{ label: 'in use' }, { label: 'idle' }, { label: 'waiting' }],
        sample: () => [pool.totalCount - pool.idleCount, pool.idleCount, pool.waitingCount],
      });
    }
  }
}
