#!/usr/bin/env node
// The `hotpath` command. In a checkout of the repository (cli/main.ts and tsx present) it runs
// the TypeScript sources, so it never runs a stale build; an installed package runs dist/.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const source = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
let hasTsx = false;
try {
  createRequire(import.meta.url).resolve('tsx');
  hasTsx = true;
} catch {
  hasTsx = false;
}

if (existsSync(source) && hasTsx) {
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', source, ...process.argv.slice(2)],
    { stdio: 'inherit' },
  );
  // Ctrl-C reaches the child through the terminal's process group: let it print its results
  // and exit on its own, and exit with its code.
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      if (signal === 'SIGTERM') child.kill(signal);
    });
  }
  child.on('exit', (code, signal) => {
    process.exitCode = code ?? (signal === 'SIGINT' ? 130 : 1);
  });
} else {
  const { main } = await import(new URL('../dist/cli/main.js', import.meta.url).href);
  process.exitCode = await main(process.argv.slice(2));
}
