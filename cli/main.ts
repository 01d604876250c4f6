/**
 * The `hotpath` command line: argv -> command. Each command lives in cli/commands/<name>.ts,
 * exports `run(argv): Promise<number>` (the exit code) and is loaded only when invoked.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface Command {
  summary: string;
  load: () => Promise<{ run: (argv: string[]) => Promise<number> }>;
}

const commands: Record<string, Command> = {
  load: {
    summary: 'load generator: open/closed model, HDR latency, reports, CI thresholds',
    load: () => import('./commands/load.js'),
  },
  profile: {
    summary: 'CPU or heap profile of a running service: pprof, .cpuprofile, flame graph, diff',
    load: () => import('./commands/profile.js'),
  },
  slo: {
    summary: 'SLOs as Prometheus recording and burn-rate alerting rules',
    load: () => import('./commands/slo.js'),
  },
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function usage(): string {
  const width = Math.max(8, ...Object.keys(commands).map((n) => n.length));
  const lines = Object.entries(commands).map(
    ([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`,
  );
  return [
    'usage: hotpath <command> [options]',
    '',
    'commands:',
    ...lines,
    '',
    "hotpath <command> --help   shows a command's options",
    'hotpath --version          prints the version',
  ].join('\n');
}

/** Runs the CLI with `argv` (without node and script) and resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    console.log(version());
    return 0;
  }
  const command = commands[name];
  if (command === undefined) {
    console.error(`hotpath: unknown command "${name}" (see hotpath --help)`);
    return 2;
  }
  const module = await command.load();
  return module.run(rest);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main(process.argv.slice(2));
}
