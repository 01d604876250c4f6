import type { Database } from './database.js';
import { startEmbedded } from '../embedded/embedded-database.js';
import { connectPostgres } from './postgres-database.js';

/** Options of {@link createDatabase}: a server URL, or a directory for the embedded engine. */
export interface CreateDatabaseOptions {
  /** `postgres://...`: use that server through a pg pool. */
  url?: string;
  /** Without `url`: the embedded engine's data directory. Default `./data`. */
  dataDir?: string;
  /** pg pool size for a server. Default 10. */
  poolMax?: number;
  /** Progress lines while the embedded engine boots. */
  onProgress?: (message: string) => void;
}

/**
 * Opens a {@link Database}: a PostgreSQL server when `url` is given, else embedded PGlite in
 * a worker thread with its files in `dataDir`.
 * @throws {@link ConnectError} `HP_ERR_DB_CONNECT` when the server is unreachable or the
 *   embedded engine cannot start.
 * @throws {@link DatabaseLockedError} `HP_ERR_DB_LOCKED` when another live process has the
 *   embedded engine's `dataDir` open.
 * @example
 * const db = await createDatabase({ url: process.env.DATABASE_URL, dataDir: './data' });
 */
export async function createDatabase(options: CreateDatabaseOptions = {}): Promise<Database> {
  if (options.url !== undefined && options.url !== '') {
    return connectPostgres(options.url, { max: options.poolMax ?? 10 });
  }
  return startEmbedded({
    dataDir: options.dataDir ?? './data',
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
}
