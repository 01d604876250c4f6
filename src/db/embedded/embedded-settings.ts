import { InvalidOptionError } from '../../errors/index.js';

/**
 * Settings the embedded engine starts with unless `settings` says otherwise. PostgreSQL's
 * `shared_buffers` default (128 MB) lives in PGlite's WASM memory, which never shrinks; its
 * pages are in memory or in the OS cache anyway, so 16 MB costs an embedded database little
 * (docs/db.md, bench/service/overhead-memory.bench.ts).
 */
export const EMBEDDED_DEFAULT_SETTINGS: Readonly<Record<string, string>> = {
  shared_buffers: '16MB',
};

/**
 * Settings a `memory://` database adds under {@link EMBEDDED_DEFAULT_SETTINGS}: its files,
 * WAL included, are ArrayBuffers in the worker. With 1 MB WAL segments
 * ({@link MEMORY_INITDB_ARGS}) `min_wal_size` and `max_wal_size` can be their smallest, so a
 * checkpoint keeps two or three segments instead of 16 MB ones; without zero-filling, a new
 * segment's file grows once to its size, not 8 KB at a time through copies of a growing
 * buffer.
 */
export const EMBEDDED_MEMORY_SETTINGS: Readonly<Record<string, string>> = {
  min_wal_size: '2MB',
  max_wal_size: '4MB',
  wal_init_zero: 'off',
};

/** initdb arguments of a `memory://` database: 1 MB WAL segments instead of 16 MB. */
export const MEMORY_INITDB_ARGS: readonly string[] = ['--wal-segsize=1'];

/**
 * The `-c name=value` start parameters of the engine: the defaults, then for `memory://` the
 * memory settings, then the caller's `settings`.
 * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` on a name or value that is not
 *   one word.
 */
export function startParams(
  settings: Readonly<Record<string, string | number>> | undefined,
  memory: boolean,
): string[] {
  const merged = {
    ...EMBEDDED_DEFAULT_SETTINGS,
    ...(memory ? EMBEDDED_MEMORY_SETTINGS : {}),
    ...settings,
  };
  const params: string[] = [];
  for (const [name, value] of Object.entries(merged)) {
    const text = String(value);
    if (!/^[a-z][a-z0-9_.]*$/.test(name) || !/^[A-Za-z0-9_.+-]+$/.test(text))
      throw new InvalidOptionError('settings', `not a PostgreSQL setting: ${name}=${text}`);
    params.push('-c', `${name}=${text}`);
  }
  return params;
}
