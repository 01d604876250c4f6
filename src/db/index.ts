/**
 * @module hotpath/db
 * PostgreSQL for Node services: one {@link Database} interface served by a real server
 * (through pg) or by embedded PGlite in a worker thread, and versioned migrations. It does
 * not hide SQL: queries are plain text with `$n` parameters.
 */
export type { Database, QueryExecutor, QueryResult } from './database.js';
export { PostgresDatabase, connectPostgres } from './postgres-database.js';
export type { PostgresDatabaseOptions } from './postgres-database.js';
export { EmbeddedDatabase, startEmbedded } from './embedded-database.js';
export type { EmbeddedDatabaseOptions } from './embedded-database.js';
export { createDatabase } from './create-database.js';
export type { CreateDatabaseOptions } from './create-database.js';
export { migrate, splitStatements } from './migrate.js';
export type { Migration, MigrateResult } from './migrate.js';
export { QueryError, ConnectError, MigrationError } from './errors.js';
