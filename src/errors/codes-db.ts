/** Codes of hotpath/db. */
export const dbCodes = {
  HP_ERR_DB_QUERY:
    'The database rejected or failed a query; `sqlState` holds the PostgreSQL SQLSTATE.',
  HP_ERR_DB_CONNECT: 'The database could not be reached or did not start.',
  HP_ERR_DB_MIGRATION: 'A migration failed, or an applied migration was changed afterwards.',
  HP_ERR_DB_POOL_TIMEOUT: 'No pool connection became free before the acquire deadline.',
  HP_ERR_DB_N_PLUS_ONE: 'Strict N+1 detection: one query shape ran too often in one request.',
  HP_ERR_DB_CURSOR_INVALID:
    'A keyset pagination cursor could not be decoded or does not fit the query.',
  HP_ERR_DB_INDEX_MISSING: 'No index serves the keyset ordering that was checked.',
  HP_ERR_DB_LOCKED:
    "Another live process holds the embedded database's data directory (its hotpath.lock file).",
} as const satisfies Record<`HP_ERR_${string}`, string>;
