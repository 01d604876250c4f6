/**
 * The fault suite's own servers: a PostgreSQL and a Redis started for one test file, so its
 * scenarios can stop and kill them without touching the shared servers other suites use.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopAll } from './child-process.js';
import { PostgresServer, postgresBin } from './postgres-server.js';
import { hasRedisServer, RedisServer } from './redis-server.js';

const isCI = process.env.CI === '1' || process.env.CI === 'true';

/** Why the suite cannot run here (PostgreSQL or Redis missing), or false. Fails under CI. */
export function faultSuiteSkip(): string | false {
  const missing = [
    postgresBin() === undefined ? 'PostgreSQL (apt-get install -y postgresql)' : '',
    hasRedisServer() ? '' : 'redis-server (apt-get install -y redis-server)',
  ].filter((m) => m !== '');
  if (missing.length === 0) return false;
  const reason = `not installed: ${missing.join(', ')}`;
  if (isCI) throw new Error(`CI requires the fault suite's servers: ${reason}`);
  return reason;
}

/** A PostgreSQL and a Redis server of the suite's own, in one temporary directory. */
export class FaultCluster {
  readonly dir: string;
  readonly postgres: PostgresServer;
  readonly redis: RedisServer;

  private constructor(dir: string, postgres: PostgresServer, redis: RedisServer) {
    this.dir = dir;
    this.postgres = postgres;
    this.redis = redis;
  }

  static async start(): Promise<FaultCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'hotpath-faults-'));
    try {
      const bin = postgresBin();
      if (bin === undefined) throw new Error('PostgreSQL is not installed');
      const [postgres, redis] = await Promise.all([
        PostgresServer.create(bin, dir),
        RedisServer.create(dir),
      ]);
      return new FaultCluster(dir, postgres, redis);
    } catch (error) {
      await stopAll();
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Ends every process the harness started (by PID) and removes the directory. */
  async close(): Promise<void> {
    await stopAll();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
