import type { Pool } from 'pg';

/**
 * Ends a pg pool and waits until its connections are closed. pg-pool's `end()` resolves once
 * no client is left in the pool, before those clients' connections have finished closing;
 * a server that drops them meanwhile (a database dropped right after, a restart) would then
 * raise an error on a pool nobody listens to any more. Here errors of closing connections
 * are ignored, and the wait for them is bounded by `timeoutMs`.
 */
export async function endPool(pool: Pool, timeoutMs = 5000): Promise<void> {
  pool.on('error', ignore);
  let open = pool.totalCount;
  let timer: NodeJS.Timeout | undefined;
  const closed = new Promise<void>((resolve) => {
    if (open === 0) return resolve();
    const onRemove = (): void => {
      if (--open > 0) return;
      pool.off('remove', onRemove);
      resolve();
    };
    pool.on('remove', onRemove);
    timer = setTimeout(resolve, timeoutMs).unref();
  });
  try {
    await pool.end();
    await closed;
  } finally {
    clearTimeout(timer);
  }
}

function ignore(): void {}
