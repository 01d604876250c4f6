/**
 * The live progress line of a run on a terminal: rewritten in place once per measured second
 * (carriage return and erase-line), only when the stream is a TTY and not silenced, so it never
 * ends up in a file or a pipe, nor among JSON written to stdout.
 */
import { formatProgress } from './format.js';
import type { LoadProgress } from './load.js';

/** Where the line goes: a TTY stream such as `process.stderr`. */
export interface ProgressStream {
  /** Only a TTY gets the line. */
  isTTY?: boolean;
  /** Terminal width: the line is cut to it so that rewriting in place never wraps. */
  columns?: number;
  write(text: string): unknown;
}

/** Options of {@link ProgressLine}. */
export interface ProgressLineOptions {
  /** Print nothing (`--quiet`). @defaultValue false */
  isQuiet?: boolean;
}

const ERASE = '\r\x1b[2K';

/**
 * Rewrites one line of a TTY with each {@link LoadProgress}; does nothing on other streams.
 * @example
 * ```ts
 * const line = new ProgressLine(process.stderr);
 * const result = await load(options, { onProgress: (p) => line.update(p) });
 * line.clear();
 * ```
 */
export class ProgressLine {
  readonly #stream: ProgressStream;
  readonly #isEnabled: boolean;
  #isShown = false;

  constructor(stream: ProgressStream, options: ProgressLineOptions = {}) {
    this.#stream = stream;
    this.#isEnabled = stream.isTTY === true && options.isQuiet !== true;
  }

  /** Whether the line is shown at all (a TTY, not quiet). */
  get isEnabled(): boolean {
    return this.#isEnabled;
  }

  /** Replaces the line with this progress. */
  update(progress: LoadProgress): void {
    if (!this.#isEnabled) return;
    let text = formatProgress(progress);
    const columns = this.#stream.columns;
    if (columns !== undefined && columns > 1 && text.length >= columns)
      text = text.slice(0, columns - 1);
    this.#stream.write(`${ERASE}${text}`);
    this.#isShown = true;
  }

  /** Erases the line (before the final report, or a line of its own). */
  clear(): void {
    if (!this.#isShown) return;
    this.#stream.write(ERASE);
    this.#isShown = false;
  }
}
