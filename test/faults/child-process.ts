/**
 * A process the fault harness started and may signal: spawned with its output piped, waited
 * for by a line it prints, signalled by its own PID only, and remembered until it exits so
 * `stopAll()` in an `after` hook ends every one of them, even when a test failed.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/** The last lines a process printed, for a failure's message. */
const KEPT_LINES = 60;

const running = new Set<ManagedProcess>();

// A test process that ends without its `after` hooks (an uncaught error, the runner's
// timeout) must not leave servers behind: kill what is still running, by PID.
function killAll(): void {
  for (const p of running) p.signal('SIGKILL');
}
process.once('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAll();
    process.kill(process.pid, signal);
  });
}

/** Options of {@link ManagedProcess.start}. */
export interface StartOptions {
  /** A short name for messages ("postgres", "gateway", "service"). */
  name: string;
  command: string;
  args: readonly string[];
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Run as this user and group (PostgreSQL refuses to run as root). */
  uid?: number;
  gid?: number;
  /** Resolve once a line of stdout or stderr matches; the match is returned. */
  readyLine: RegExp;
  /** Longest wait for `readyLine`. Default 30,000 ms. */
  readyTimeoutMs?: number;
}

/** One started process. */
export class ManagedProcess {
  readonly name: string;
  readonly #child: ChildProcess;
  readonly #lines: string[] = [];
  readonly #exited: Promise<number | string | null>;
  #hasExited = false;

  private constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.#child = child;
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#hasExited = true;
        running.delete(this);
        resolve(signal ?? code);
      });
      child.once('error', (error) => {
        this.#remember(`spawn error: ${error.message}`);
        this.#hasExited = true;
        running.delete(this);
        resolve(null);
      });
    });
  }

  /**
   * Spawns a process and resolves once it prints `readyLine`.
   * @throws Error with its last output when it exits or times out first.
   */
  static async start(
    options: StartOptions,
  ): Promise<{ process: ManagedProcess; match: RegExpMatchArray }> {
    const spawnOptions: SpawnOptions = {
      cwd: options.cwd ?? process.cwd(),
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.uid === undefined ? {} : { uid: options.uid }),
      ...(options.gid === undefined ? {} : { gid: options.gid }),
    };
    const child = spawn(options.command, [...options.args], spawnOptions);
    const managed = new ManagedProcess(options.name, child);
    running.add(managed);
    const match = await managed.#waitForLine(options.readyLine, options.readyTimeoutMs ?? 30_000);
    return { process: managed, match };
  }

  /** The process id. */
  get pid(): number {
    return this.#child.pid ?? -1;
  }

  get hasExited(): boolean {
    return this.#hasExited;
  }

  /** The last lines it printed. */
  get output(): string {
    return this.#lines.join('\n');
  }

  /** Sends `signal` to this process (by its PID); a process already gone is left alone. */
  signal(signal: NodeJS.Signals): void {
    if (this.#hasExited) return;
    try {
      process.kill(this.pid, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }

  /** Resolves with the exit code or signal once the process has exited. */
  exited(): Promise<number | string | null> {
    return this.#exited;
  }

  /**
   * Sends `signal` and waits for the exit; SIGKILL after `timeoutMs` when it is still there
   * (a stopped process is continued first so it can handle SIGTERM).
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<void> {
    if (this.#hasExited) return;
    this.signal(signal);
    if (signal !== 'SIGKILL' && signal !== 'SIGSTOP') this.signal('SIGCONT');
    const timer = setTimeout(() => this.signal('SIGKILL'), timeoutMs);
    try {
      await this.#exited;
    } finally {
      clearTimeout(timer);
    }
  }

  #remember(line: string): void {
    this.#lines.push(line);
    if (this.#lines.length > KEPT_LINES) this.#lines.shift();
  }

  #waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      let isDone = false;
      const partial = { stdout: '', stderr: '' };
      const finish = (error: Error | undefined, match?: RegExpMatchArray) => {
        if (isDone) return;
        isDone = true;
        clearTimeout(timer);
        if (error !== undefined) reject(error);
        else resolve(match!);
      };
      const onData = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
        const text = partial[stream] + chunk.toString('utf8');
        const lines = text.split('\n');
        partial[stream] = lines.pop() ?? '';
        for (const line of lines) {
          this.#remember(line);
          const match = pattern.exec(line);
          if (match !== null) finish(undefined, match);
        }
      };
      // Output is read for the life of the process (a full pipe would block it).
      this.#child.stdout?.on('data', onData('stdout'));
      this.#child.stderr?.on('data', onData('stderr'));
      const timer = setTimeout(() => {
        finish(
          new Error(`${this.name} did not print ${pattern} in ${timeoutMs} ms:\n${this.output}`),
        );
        this.signal('SIGKILL');
      }, timeoutMs);
      void this.#exited.then((how) =>
        finish(
          new Error(`${this.name} exited (${how}) before printing ${pattern}:\n${this.output}`),
        ),
      );
    });
  }
}

/**
 * Ends every process started here that is still running: SIGCONT (a stopped one), SIGTERM,
 * then SIGKILL after `timeoutMs`. For `after` hooks.
 */
export async function stopAll(timeoutMs = 5000): Promise<void> {
  await Promise.all([...running].map((p) => p.stop('SIGTERM', timeoutMs)));
}

/** Waits for an event-less condition; used where a process has no line to print. */
export async function waitFor(
  what: string,
  condition: () => Promise<boolean>,
  timeoutMs: number,
  intervalMs = 50,
): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await condition()) return performance.now() - started;
    if (performance.now() - started > timeoutMs)
      throw new Error(`${what}: not true after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
