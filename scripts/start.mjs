// `npm start`: builds the TypeScript sources into dist/ when they are newer than the build,
// then runs the payments service (which starts its gateway simulator) from dist/.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const entry = join(root, 'dist', 'service', 'main.js');

function newest(dir) {
  let latest = 0;
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    if (!name.endsWith('.ts') && !name.endsWith('.sql') && !name.endsWith('.json')) continue;
    latest = Math.max(latest, statSync(join(dir, name)).mtimeMs);
  }
  return latest;
}

const sourcesChanged =
  !existsSync(entry) ||
  ['src', 'service', 'cli'].some((d) => newest(join(root, d)) > statSync(entry).mtimeMs) ||
  statSync(join(root, 'package.json')).mtimeMs > statSync(entry).mtimeMs;

if (sourcesChanged) {
  console.log('hotpath: building (tsc -p tsconfig.build.json) ...');
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const build = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (build.status !== 0) {
    console.error('hotpath: build failed');
    process.exit(1);
  }
}

// The service's memory (docs/db.md "Memory", bench/service/overhead-memory.bench.ts): a 2 MB
// young-generation semi-space instead of V8's 16 MB keeps some 30 MB less committed heap
// under load; glibc's mmap threshold fixed at 64 KiB (it otherwise rises to the largest block
// freed) returns freed large buffers to the system, such as those left by loading a
// memory:// database (MALLOC_MMAP_THRESHOLD_ in the environment wins).
const child = spawn(
  process.execPath,
  ['--max-semi-space-size=2', entry, ...process.argv.slice(2)],
  {
    cwd: root,
    stdio: 'inherit',
    env: { MALLOC_MMAP_THRESHOLD_: '65536', ...process.env },
  },
);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => child.kill(signal));
}
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
