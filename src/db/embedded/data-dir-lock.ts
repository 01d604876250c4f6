import { randomUUID } from 'node:crypto';
import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DatabaseLockedError } from '../errors.js';

/** Name of the lock file in an embedded database's data directory. */
export const LOCK_FILE = 'hotpath.lock';

/** What the lock file holds. */
interface Holder {
  pid: number;
  host: string;
  /** Tells this lock from a later one in the same file (a pid can be reused). */
  token: string;
  since: string;
}

function readHolder(path: string): Holder | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<Holder>;
    if (typeof parsed.pid !== 'number' || typeof parsed.host !== 'string') return undefined;
    return parsed as Holder;
  } catch {
    return undefined;
  }
}

/** True unless the holder's process is known to be gone. */
function isAlive(holder: Holder): boolean {
  // A pid on another machine (a shared volume) cannot be checked: assume it runs.
  if (holder.host !== hostname()) return true;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone: nothing to remove.
  }
}

/** An exclusive claim on a data directory, held until {@link DataDirLock.release}. */
export class DataDirLock {
  /** The lock file. */
  readonly path: string;
  readonly #token: string;
  #released = false;

  private constructor(path: string, token: string) {
    this.path = path;
    this.#token = token;
  }

  /**
   * Claims `dataDir` for this process: creates `<dataDir>/hotpath.lock` holding the pid, or
   * takes it over when the process that left it is gone. The file appears whole, by a hard
   * link of a file written beside it, so another process never reads it half-written.
   * @throws {@link DatabaseLockedError} `HP_ERR_DB_LOCKED` when a live process holds it.
   */
  static acquire(dataDir: string): DataDirLock {
    const path = join(dataDir, LOCK_FILE);
    const token = randomUUID();
    const holder: Holder = {
      pid: process.pid,
      host: hostname(),
      token,
      since: new Date().toISOString(),
    };
    const draft = `${path}.${token}`;
    writeFileSync(draft, `${JSON.stringify(holder)}\n`);
    try {
      // A second pass after removing a stale lock; a third only if another process raced us.
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          linkSync(draft, path);
          return new DataDirLock(path, token);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        }
        const current = readHolder(path);
        if (current !== undefined && isAlive(current)) throw new DatabaseLockedError(path, current);
        // Left by a process that is gone (or not a lock we wrote): take it over.
        unlinkQuietly(path);
      }
      const current = readHolder(path);
      throw new DatabaseLockedError(path, current ?? { pid: 0, host: 'unknown' });
    } finally {
      unlinkQuietly(draft);
    }
  }

  /** Removes the lock file if it is still this lock's. Idempotent. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    if (readHolder(this.path)?.token === this.#token) unlinkQuietly(this.path);
  }
}
