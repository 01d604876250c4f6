/**
 * Fastify's per-request logger, made only when a request logs. Fastify gives every request a
 * child of the app's pino logger with the request id bound (`reqId`), even with request
 * logging off; pino serializes the bindings of each child as it makes it. The service logs
 * from a request only on errors and slow requests, so the child here is a small stand-in
 * that asks pino for the real child on its first log call: the same line, with the same
 * `reqId`, for the requests that log, and no pino work for the others
 * (bench/service/overhead.bench.ts).
 */
import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify';

type Bindings = Parameters<FastifyBaseLogger['child']>[0];
type ChildOptions = NonNullable<Parameters<FastifyBaseLogger['child']>[1]>;
type AnyLogFn = (this: FastifyBaseLogger, ...args: unknown[]) => void;

/** A request's logger: forwards each call to a pino child made on the first one. */
export class LazyChildLogger implements FastifyBaseLogger {
  readonly #parent: FastifyBaseLogger;
  readonly #bindings: Bindings;
  readonly #options: ChildOptions;
  #child: FastifyBaseLogger | undefined;

  constructor(parent: FastifyBaseLogger, bindings: Bindings, options: ChildOptions) {
    this.#parent = parent;
    this.#bindings = bindings;
    this.#options = options;
  }

  /** Whether the pino child was made (a call logged through this logger). */
  get isMaterialized(): boolean {
    return this.#child !== undefined;
  }

  get level(): string {
    return this.#child?.level ?? this.#options.level ?? this.#parent.level;
  }

  set level(level: string) {
    this.#real().level = level;
  }

  fatal(...args: unknown[]): void {
    this.#call('fatal', args);
  }

  error(...args: unknown[]): void {
    this.#call('error', args);
  }

  warn(...args: unknown[]): void {
    this.#call('warn', args);
  }

  info(...args: unknown[]): void {
    this.#call('info', args);
  }

  debug(...args: unknown[]): void {
    this.#call('debug', args);
  }

  trace(...args: unknown[]): void {
    this.#call('trace', args);
  }

  silent(): void {}

  child(bindings: Bindings, options?: ChildOptions): FastifyBaseLogger {
    return this.#real().child(bindings, options);
  }

  #call(method: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace', args: unknown[]): void {
    const child = this.#real();
    (child[method] as AnyLogFn).apply(child, args);
  }

  #real(): FastifyBaseLogger {
    return (this.#child ??= this.#parent.child(this.#bindings, this.#options));
  }
}

/**
 * A `childLoggerFactory` for Fastify: each request's `request.log` is a
 * {@link LazyChildLogger}. Bindings and options are those Fastify passes (the request id, a
 * route's log level or serializers), used when the child is made.
 */
export const lazyChildLoggerFactory: NonNullable<FastifyServerOptions['childLoggerFactory']> = (
  logger,
  bindings,
  options,
) => new LazyChildLogger(logger, bindings, options);
