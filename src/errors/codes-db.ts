/** Codes of hotpath/db. */
export const dbCodes = {
  HP_ERR_DB_QUERY: 'The database rejected or failed a query; `sqlState` holds the PostgreSQL SQLSTATE.',
  HP_ERR_DB_CONNECT: 'The database could not be reached or did not start.',
  HP_ERR_DB_MIGRATION: 'A migration failed, or an applied migration was changed afterwards.',
} as const;
