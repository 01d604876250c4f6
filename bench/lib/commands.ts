/** Command lines the benches spawn: TypeScript files of this checkout, run from source. */
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');

/** Runs a TypeScript file (a path from the repository root, or absolute) through tsx. */
export function tsxCommand(file: string, ...args: string[]): string[] {
  return [process.execPath, '--conditions=source', '--import', 'tsx', resolve(root, file), ...args];
}

/** Runs the `hotpath` CLI from this checkout's sources. */
export function hotpathCommand(...args: string[]): string[] {
  return tsxCommand('cli/main.ts', ...args);
}
