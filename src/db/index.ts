/**
 * @module hotpath/db
 * PostgreSQL for Node services: one {@link Database} interface served by a real server
 * (through pg) or by embedded PGlite in a worker thread, and versioned migrations. It does
 * not hide SQL: queries are plain text with `$n` parameters.
 */
export type { Database, QueryExecutor, QueryResult } from './client/database.js';
export { PostgresDatabase, connectPostgres } from './client/postgres-database.js';
export type { PostgresDatabaseOptions } from './client/postgres-database.js';
export {
  EmbeddedDatabase,
  EMBEDDED_DEFAULT_SETTINGS,
  startEmbedded,
} from './embedded/embedded-database.js';
export type { EmbeddedDatabaseOptions, EmbeddedMemoryUsage } from './embedded/embedded-database.js';
export { createDatabase } from './client/create-database.js';
export type { CreateDatabaseOptions } from './client/create-database.js';
export { migrate, splitStatements } from './migrate/migrate.js';
export type { Migration, MigrateResult } from './migrate/migrate.js';
export {
  QueryError,
  ConnectError,
  MigrationError,
  DatabaseLockedError,
  PoolTimeoutError,
  NPlusOneError,
  InvalidCursorError,
  MissingIndexError,
} from './errors.js';
export { createPool, instrumentPool, InstrumentedPool } from './pool/instrumented-pool.js';
export type { CreatePoolOptions, InstrumentPoolOptions } from './pool/instrumented-pool.js';
export type { PoolMetrics } from './pool/pool-metrics.js';
export type { LeakReport } from './instrument/leak-detector.js';
export { instrumentDatabase, InstrumentedDatabase } from './instrument/instrumented-database.js';
export type { InstrumentDatabaseOptions } from './instrument/instrumented-database.js';
export { fingerprint, normalizeSql, FingerprintCache } from './instrument/fingerprint.js';
export type { Fingerprint } from './instrument/fingerprint.js';
export { QueryStats } from './instrument/query-stats.js';
export type { QueryStatsEntry, QueryStatsOptions } from './instrument/query-stats.js';
export { SlowQueryLog } from './instrument/slow-query-log.js';
export type { SlowQueryEntry, SlowQueryLogOptions } from './instrument/slow-query-log.js';
export { explainQuery, isReadOnly, planNodes } from './advise/explain.js';
export type { ExplainOptions, PlanNode, QueryPlan } from './advise/explain.js';
export { IndexAdvisor, filterColumns } from './advise/index-advisor.js';
export type { IndexAdvice, IndexAdvisorOptions } from './advise/index-advisor.js';
export { NPlusOneDetector } from './instrument/n-plus-one.js';
export type { NPlusOneDetectorOptions, NPlusOneReport } from './instrument/n-plus-one.js';
export { dbChannels } from './instrument/channels.js';
export type { QueryEvent } from './instrument/channels.js';
export type { SqlClient, SqlPool } from './client/sql-client.js';
export {
  keysetPage,
  buildKeysetQuery,
  checkKeysetIndex,
  encodeCursor,
  decodeCursor,
} from './query/keyset.js';
export type { KeysetColumn, KeysetPage, KeysetPageOptions, KeysetQuery } from './query/keyset.js';
export { BatchLoader } from './query/batch-loader.js';
export type { BatchLoaderOptions } from './query/batch-loader.js';
export { lateralLoader, buildLateralQuery, buildAnyDistinctQuery } from './query/lateral.js';
export type { PerKeyQueryOptions } from './query/lateral.js';
export { insertMultiRow, insertUnnest, copyRows } from './query/bulk-insert.js';
export type { BulkInsertOptions, CopyCapableClient, CopyRowsOptions } from './query/bulk-insert.js';
export { BINARY_COPY_TYPES } from './query/copy-binary.js';
export { ShardRouter, ReadWriteRouter, jumpHash, hashKey } from './route/shard-router.js';
export type { ShardRouterOptions, ReadWriteRouterOptions } from './route/shard-router.js';
export { ReplicaRouter, parseLsn } from './route/replica-router.js';
export type {
  ReplicaRouterOptions,
  ReplicaRouterStats,
  WritePositionStore,
} from './route/replica-router.js';
