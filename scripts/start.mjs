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

const child = spawn(process.execPath, [entry, ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => child.kill(signal));
}
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
