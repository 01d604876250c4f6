/**
 * Starts one part of `scripts/scale.sh` (`pg`, `pgbouncer`) for a test in a temporary
 * directory, reads the variables it writes to `<dir>/<envFile>`, and stops it (then removes the
 * directory) on `stop()`. A failed start stops what it left and throws.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..', '..', '..');

export interface ScalePart {
  /** The `export NAME=value` lines of the env file, by name. */
  vars: Record<string, string>;
  stop(): Promise<void>;
}

export async function startScalePart(
  part: 'pg' | 'pgbouncer',
  envFile: string,
  env: Record<string, string> = {},
): Promise<ScalePart> {
  const dir = mkdtempSync(join(tmpdir(), `hotpath-${part}-`));
  const options = { env: { ...process.env, ...env, HOTPATH_SCALE_DIR: dir }, cwd: root };
  const script = (command: string) =>
    run('bash', [join(root, 'scripts/scale.sh'), part, command], options);
  const stop = async () => {
    try {
      await script('stop');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    await script('start');
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
  const vars = Object.fromEntries(
    readFileSync(join(dir, envFile), 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.replace(/^export /, '').split('=', 2) as [string, string]),
  );
  return { vars, stop };
}
