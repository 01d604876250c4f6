/**
 * `hotpath profile`: takes a CPU or heap profile from a running service's pprof endpoints and
 * writes it as pprof, `.cpuprofile` and/or a flame graph page; `hotpath profile diff` compares
 * two profile files. Every computation lives in hotpath/profile; this file parses and prints.
 *
 * Exit codes: 0 done, 1 the request or a file failed, 2 bad arguments, 130 interrupted.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { CpuProfile, HeapProfile, ProfileTree } from 'hotpath/profile';
import {
  cpuProfileToPprof,
  diffProfiles,
  encodePprof,
  formatDiffTable,
  heapProfileToPprof,
  readProfileTree,
  renderFlameGraph,
  topFunctions,
  treeFromCpuProfile,
  treeFromHeapProfile,
} from 'hotpath/profile';

const HELP = `usage: hotpath profile <url> [options]
       hotpath profile diff <before> <after> [--top N] [--flamegraph FILE]

Takes a profile from a service serving hotpath's /debug/pprof endpoints. <url> is the
service's base URL (http://127.0.0.1:3000) or the endpoints' prefix URL.

  -s, --seconds N        profile length in seconds (10)
  -o, --out FILE         write the profile: pprof gzip (.pb.gz, opens in go tool pprof and
                         speedscope), or .cpuprofile / .heapprofile JSON by the file name
      --flamegraph FILE  write a self-contained interactive flame graph page
      --heap             sampling heap profile instead of CPU
      --worker NAME      profile the worker thread named NAME
      --token TOKEN      bearer token (default: $HOTPATH_PROFILE_TOKEN)
      --top N            functions in the printed table (15)

diff reads pprof (gzip or not) or .cpuprofile files and prints the functions whose share
changed most; --flamegraph draws the new profile coloured by change (red grew, blue shrank).

Exit: 0 ok, 1 request or file failed, 2 bad arguments, 130 interrupted.`;

/** A bad command line: printed as one line, exit 2. */
class UsageError extends Error {}

function positiveNumber(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0)
    throw new UsageError(`${flag} expects a positive number, got ${JSON.stringify(value)}`);
  return n;
}

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        seconds: { type: 'string', short: 's' },
        out: { type: 'string', short: 'o' },
        flamegraph: { type: 'string' },
        heap: { type: 'boolean' },
        worker: { type: 'string' },
        token: { type: 'string' },
        top: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message.split('\n')[0]);
  }
}

function endpointsBase(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`not a URL: ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`expected an http(s) URL, got ${JSON.stringify(raw)}`);
  let path = url.pathname.replace(/\/+$/, '');
  path = path.replace(/\/(profile|heap|flamegraph|heapsnapshot|handles)$/, '');
  url.pathname = path === '' ? '/debug/pprof' : path;
  url.search = '';
  return url;
}

function printTop(tree: ProfileTree, top: number): void {
  const rows = topFunctions(tree).slice(0, top);
  const all = tree.root.total;
  const fmt = (v: number): string =>
    tree.unit === 'bytes' ? `${(v / 1024).toFixed(0)} KB` : `${(v / 1000).toFixed(1)} ms`;
  const pct = (v: number): string => (all > 0 ? `${((100 * v) / all).toFixed(1)}%` : '-');
  console.log(
    `${'self'.padStart(10)} ${'self%'.padStart(6)} ${'total'.padStart(10)} ${'total%'.padStart(6)}  function`,
  );
  for (const f of rows) {
    const where = f.file === '' ? '' : `  ${f.file}:${f.line}`;
    console.log(
      `${fmt(f.self).padStart(10)} ${pct(f.self).padStart(6)} ${fmt(f.total).padStart(10)} ${pct(f.total).padStart(6)}  ${f.name}${where}`,
    );
  }
}

async function take(argv: string[], values: ReturnType<typeof parse>['values']): Promise<number> {
  if (argv.length !== 1)
    throw new UsageError('expected exactly one <url> (see hotpath profile --help)');
  const base = endpointsBase(argv[0]!);
  const seconds = positiveNumber('--seconds', values.seconds, 10);
  const top = positiveNumber('--top', values.top, 15);
  const heap = values.heap === true;
  const out = values.out;
  if (out !== undefined && heap && out.endsWith('.cpuprofile'))
    throw new UsageError('--heap writes .heapprofile or pprof, not .cpuprofile');
  if (out !== undefined && !heap && out.endsWith('.heapprofile'))
    throw new UsageError('a CPU profile is written as pprof or .cpuprofile, not .heapprofile');
  const url = new URL(`${base.pathname}/${heap ? 'heap' : 'profile'}`, base);
  url.searchParams.set('seconds', String(seconds));
  url.searchParams.set('format', heap ? 'heapprofile' : 'cpuprofile');
  if (values.worker !== undefined) url.searchParams.set('worker', values.worker);
  const token = values.token ?? process.env.HOTPATH_PROFILE_TOKEN;
  const headers: Record<string, string> =
    token === undefined ? {} : { authorization: `Bearer ${token}` };

  const controller = new AbortController();
  const onSigint = (): void => controller.abort();
  process.once('SIGINT', onSigint);
  const startedAtMs = Date.now();
  let body: string;
  try {
    console.error(`profiling ${heap ? 'heap' : 'CPU'} of ${base.origin} for ${seconds} s ...`);
    const res = await fetch(url, {
      headers,
      signal: AbortSignal.any([controller.signal, AbortSignal.timeout((seconds + 60) * 1000)]),
    });
    body = await res.text();
    if (res.status !== 200) {
      let message = body.slice(0, 200);
      try {
        const parsed = JSON.parse(body) as { code?: string; message?: string };
        message = `${parsed.code ?? ''}: ${parsed.message ?? ''}`;
      } catch {
        // not JSON: print the start of the body as is
      }
      console.error(`hotpath profile: ${url.pathname} answered ${res.status} ${message}`);
      return 1;
    }
  } catch (error) {
    if (controller.signal.aborted) return 130;
    console.error(`hotpath profile: ${url.origin}: ${(error as Error).message}`);
    return 1;
  } finally {
    process.off('SIGINT', onSigint);
  }

  let tree: ProfileTree;
  if (heap) {
    const profile = JSON.parse(body) as HeapProfile;
    tree = treeFromHeapProfile(profile);
    if (out !== undefined)
      writeFileSync(
        out,
        out.endsWith('.heapprofile') ? body : encodePprof(heapProfileToPprof(profile)),
      );
  } else {
    const profile = JSON.parse(body) as CpuProfile;
    tree = treeFromCpuProfile(profile);
    if (out !== undefined)
      writeFileSync(
        out,
        out.endsWith('.cpuprofile')
          ? body
          : encodePprof(cpuProfileToPprof(profile, { startedAtMs })),
      );
  }
  if (out !== undefined) console.error(`wrote ${out}`);
  if (values.flamegraph !== undefined) {
    const title = `${heap ? 'Heap' : 'CPU'} profile of ${base.host}, ${seconds} s`;
    writeFileSync(values.flamegraph, renderFlameGraph(tree, { title }));
    console.error(`wrote ${values.flamegraph}`);
  }
  if (tree.root.total === 0) {
    // An idle service allocates (or runs) too little for one sample: say so, not an empty table.
    console.log(
      heap
        ? `no samples: nothing allocated in ${seconds} s was sampled and still live at the end; profile while the service is under load`
        : `no samples: the profiled thread ran no JavaScript in ${seconds} s; profile while the service is under load`,
    );
    return 0;
  }
  printTop(tree, top);
  return 0;
}

function diff(files: string[], values: ReturnType<typeof parse>['values']): number {
  if (files.length !== 2) throw new UsageError('diff expects two files: <before> <after>');
  const top = positiveNumber('--top', values.top, 20);
  const trees = files.map((file) => {
    try {
      return readProfileTree(readFileSync(file));
    } catch (error) {
      throw new Error(`${file}: ${(error as Error).message}`, { cause: error });
    }
  });
  const [before, after] = trees as [ProfileTree, ProfileTree];
  if (before.unit !== after.unit)
    throw new Error('cannot compare a CPU profile with a heap profile');
  const result = diffProfiles(before, after);
  console.log(formatDiffTable(result, top));
  if (values.flamegraph !== undefined) {
    writeFileSync(
      values.flamegraph,
      renderFlameGraph(after, {
        title: `Differential: ${files[1]} vs ${files[0]}`,
        deltas: result.deltas,
      }),
    );
    console.error(`wrote ${values.flamegraph}`);
  }
  return 0;
}

/** Runs `hotpath profile` with `argv` (after the command name); resolves to the exit code. */
export async function run(argv: string[]): Promise<number> {
  try {
    const { values, positionals } = parse(argv);
    if (values.help === true) {
      console.log(HELP);
      return 0;
    }
    if (positionals[0] === 'diff') {
      for (const flag of ['seconds', 'out', 'heap', 'worker', 'token'] as const)
        if (values[flag] !== undefined) throw new UsageError(`--${flag} does not apply to diff`);
      return diff(positionals.slice(1), values);
    }
    return await take(positionals, values);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`hotpath profile: ${error.message}`);
      return 2;
    }
    console.error(`hotpath profile: ${(error as Error).message}`);
    return 1;
  }
}
