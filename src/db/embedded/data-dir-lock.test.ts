import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DataDirLock, LOCK_FILE } from './data-dir-lock.js';
import { DatabaseLockedError } from '../errors.js';
import { startEmbedded } from './embedded-database.js';

function lockWith(dir: string, holder: Record<string, unknown>): void {
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify(holder));
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

describe('the embedded database locks its data directory', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hotpath-lock-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test('a second open is refused naming the lock and the pid; after close() a new one sees the data', async () => {
    const first = await startEmbedded({ dataDir: dir });
    const lockPath = join(dir, LOCK_FILE);
    try {
      assert.equal(JSON.parse(readFileSync(lockPath, 'utf8')).pid, process.pid);
      await first.query('CREATE TABLE kept (n int)');
      await first.query('INSERT INTO kept VALUES (1), (2), (3)');
      const error = await startEmbedded({ dataDir: dir }).then(
        (db) => db.close().then(() => assert.fail('opened a locked directory')),
        (e: unknown) => e,
      );
      assert.ok(error instanceof DatabaseLockedError);
      assert.equal(error.code, 'HP_ERR_DB_LOCKED');
      assert.equal(error.lockPath, lockPath);
      assert.equal(error.pid, process.pid);
      assert.ok(error.message.includes(lockPath), error.message);
      assert.ok(error.message.includes(`process ${process.pid}`), error.message);
      // The refused open left the holder working.
      const { rows } = await first.query<{ n: number }>('SELECT count(*)::int AS n FROM kept');
      assert.equal(rows[0]?.n, 3);
    } finally {
      await first.close();
    }
    assert.equal(existsSync(lockPath), false);

    const second = await startEmbedded({ dataDir: dir });
    try {
      const { rows } = await second.query<{ n: number }>('SELECT count(*)::int AS n FROM kept');
      assert.equal(rows[0]?.n, 3);
    } finally {
      await second.close();
    }
  });

  test('a lock left by a process that is gone is taken over', async () => {
    lockWith(dir, { pid: await deadPid(), host: hostname(), token: 'stale', since: '' });
    const lock = DataDirLock.acquire(dir);
    assert.equal(JSON.parse(readFileSync(lock.path, 'utf8')).pid, process.pid);
    lock.release();
    assert.equal(existsSync(lock.path), false);
  });

  test('a lock file that is not one of ours is taken over', () => {
    writeFileSync(join(dir, LOCK_FILE), 'garbage');
    const lock = DataDirLock.acquire(dir);
    assert.equal(JSON.parse(readFileSync(lock.path, 'utf8')).pid, process.pid);
    lock.release();
  });

  test('release() leaves a lock that is no longer its own', () => {
    const lock = DataDirLock.acquire(dir);
    lockWith(dir, { pid: process.pid, host: hostname(), token: 'someone-else', since: '' });
    lock.release();
    assert.equal(existsSync(lock.path), true);
    rmSync(lock.path);
  });

  test('a lock held by another live process is refused, with its pid', async () => {
    const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    try {
      lockWith(dir, { pid: holder.pid, host: hostname(), token: 'other', since: '' });
      assert.throws(
        () => DataDirLock.acquire(dir),
        (e: unknown) =>
          e instanceof DatabaseLockedError &&
          e.pid === holder.pid &&
          e.message.includes(`process ${holder.pid}`),
      );
    } finally {
      holder.kill();
      await new Promise((resolve) => holder.once('exit', resolve));
      rmSync(join(dir, LOCK_FILE), { force: true });
    }
  });

  test('a lock from another host is refused: its pid cannot be checked', () => {
    lockWith(dir, { pid: 1, host: `not-${hostname()}`, token: 'remote', since: '' });
    try {
      assert.throws(
        () => DataDirLock.acquire(dir),
        (e: unknown) => e instanceof DatabaseLockedError && /on host not-/.test(e.message),
      );
    } finally {
      rmSync(join(dir, LOCK_FILE), { force: true });
    }
  });

  test('memory:// takes no lock: two open at once', async () => {
    const a = await startEmbedded({ dataDir: 'memory://' });
    const b = await startEmbedded({ dataDir: 'memory://' });
    await Promise.all([a.close(), b.close()]);
  });
});
