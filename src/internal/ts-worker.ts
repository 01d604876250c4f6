import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts a worker thread from a module URL. Compiled code (dist/) loads the `.js` file as is.
 * Run from the TypeScript sources (tests, `npm run dev`), Node 20 workers do not inherit the
 * parent's `--import tsx` hooks ("Unknown file extension .ts"), so the worker first loads
 * tsx's API and imports the `.ts` module through it.
 */
export function startWorker(moduleUrl: URL, options: WorkerOptions = {}): Worker {
  if (!moduleUrl.pathname.endsWith('.ts')) return new Worker(moduleUrl, options);
  const api = import.meta.resolve('tsx/esm/api');
  const code =
    `import(${JSON.stringify(api)}).then((tsx) => ` +
    `tsx.tsImport(${JSON.stringify(moduleUrl.href)}, ${JSON.stringify(import.meta.url)}))`;
  return new Worker(code, { ...options, eval: true });
}

/** The URL of a sibling module, with `.ts` when running from sources and `.js` from dist/. */
export function siblingModule(name: string, parentUrl: string): URL {
  const extension = parentUrl.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./${name}${extension}`, parentUrl);
}
