import pg from 'pg';

/** Polls `condition` every 50 ms until it holds; throws naming `what` after `limitMs`. */
export async function until(
  condition: () => Promise<boolean>,
  what: string,
  limitMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Calls of statements on `url` whose text matches `pattern` (pg_stat_statements). */
export async function calls(url: string, pattern: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ n: string | null }>(
      'SELECT sum(calls) AS n FROM pg_stat_statements WHERE query LIKE $1',
      [pattern],
    );
    return Number(rows[0]!.n ?? 0);
  } finally {
    await c.end();
  }
}
