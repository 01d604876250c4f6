import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { AbortedError, ClosedError, HotpathError, InvalidOptionError } from '../errors/index.js';
import type { AccessOptions } from './access.js';
import { checkAccess } from './access.js';
import { HeapSnapshotRefusedError, ProfileBusyError, WorkerNotFoundError } from './errors.js';
import { renderFlameGraph } from './flamegraph.js';
import { handlesSummary } from './handles.js';
import { encodePprof, heapProfileToPprof } from './pprof.js';
import { treeFromCpuProfile, treeFromHeapProfile } from './profile-tree.js';
import type { ProfilerOptions } from './profiler.js';
import { Profiler } from './profiler.js';

/** Options of {@link ProfilingEndpoints}. */
export interface ProfilingEndpointsOptions extends AccessOptions {
  /** Serve the endpoints at all. Off unless set: profiling is opt-in. @defaultValue false */
  enabled?: boolean;
  /** Path the endpoints live under. @defaultValue `/debug/pprof` */
  prefix?: string;
  /** Profile length when a request gives no `seconds`. @defaultValue 30 (as Go's pprof) */
  defaultSeconds?: number;
  /** A profiler to use, or options for the one the endpoints create (and close). */
  profiler?: Profiler | ProfilerOptions;
}

class RequestError extends HotpathError<'HP_ERR_PROFILE_REQUEST'> {
  constructor(message: string) {
    super('HP_ERR_PROFILE_REQUEST', message);
  }
}

const PAGES: [string, string][] = [
  [
    'profile?seconds=30',
    'CPU profile, pprof protobuf (gzip); &format=cpuprofile for Chrome DevTools',
  ],
  [
    'flamegraph?seconds=10',
    'interactive flame graph of a fresh CPU profile (&kind=heap for allocations)',
  ],
  [
    'heap?seconds=10',
    'sampling heap profile, pprof (gzip); &collected=1 includes freed objects; &format=heapprofile',
  ],
  [
    'heapsnapshot',
    'full V8 heap snapshot, after a memory and pause cost check (&force=1 skips it)',
  ],
  ['handles', 'active handles and resources, libuv handles and worker threads (JSON)'],
];

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

function sendBytes(
  res: ServerResponse,
  type: string,
  filename: string,
  body: Buffer | string,
): void {
  res.writeHead(200, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'content-disposition': `attachment; filename="${filename}"`,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(body);
}

function statusOf(error: unknown): number {
  if (error instanceof ProfileBusyError) return 409;
  if (error instanceof WorkerNotFoundError) return 404;
  if (error instanceof HeapSnapshotRefusedError || error instanceof ClosedError) return 503;
  if (error instanceof RequestError || error instanceof InvalidOptionError) return 400;
  return 500;
}

/**
 * The pprof-style HTTP endpoints, framework-free: use {@link ProfilingEndpoints.handle} from a
 * plain `node:http` server, or the Fastify plugin. Every request passes the access check
 * (loopback only, or a bearer token) before anything else.
 *
 * | path | answer |
 * |---|---|
 * | `/debug/pprof/` | index page |
 * | `/debug/pprof/profile?seconds=N[&format=cpuprofile][&worker=NAME]` | CPU profile |
 * | `/debug/pprof/heap?seconds=N[&collected=1][&format=heapprofile][&worker=NAME]` | heap profile |
 * | `/debug/pprof/heapsnapshot[?force=1]` | heap snapshot after a cost check |
 * | `/debug/pprof/flamegraph?seconds=N[&kind=heap][&worker=NAME]` | flame graph page |
 * | `/debug/pprof/handles` | active resources summary |
 *
 * @example
 * ```ts
 * const pprof = new ProfilingEndpoints({ enabled: true });
 * http.createServer(async (req, res) => {
 *   if (await pprof.handle(req, res)) return;
 *   res.end('app');
 * });
 * ```
 */
export class ProfilingEndpoints {
  readonly #enabled: boolean;
  readonly #prefix: string;
  readonly #defaultSeconds: number;
  readonly #access: AccessOptions;
  readonly #profiler: Profiler;
  readonly #ownsProfiler: boolean;

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` naming a bad option */
  constructor(options: ProfilingEndpointsOptions = {}) {
    this.#enabled = options.enabled === true;
    const prefix = options.prefix ?? '/debug/pprof';
    if (!prefix.startsWith('/') || prefix.endsWith('/')) {
      throw new InvalidOptionError('prefix', 'expected a path starting and not ending with "/"');
    }
    this.#prefix = prefix;
    if (
      options.token !== undefined &&
      (typeof options.token !== 'string' || options.token.length < 16)
    ) {
      throw new InvalidOptionError('token', 'expected a string of at least 16 characters');
    }
    if (options.allowRemote === true && options.token === undefined) {
      // Remote access without a token would publish the endpoints: refuse the configuration.
      throw new InvalidOptionError('allowRemote', 'remote access requires a token');
    }
    this.#access = { token: options.token, allowRemote: options.allowRemote === true };
    if (options.profiler instanceof Profiler) {
      this.#profiler = options.profiler;
      this.#ownsProfiler = false;
    } else {
      this.#profiler = new Profiler(options.profiler);
      this.#ownsProfiler = true;
    }
    const seconds = options.defaultSeconds ?? Math.min(30, this.#profiler.maxSeconds);
    if (!(seconds > 0 && seconds <= this.#profiler.maxSeconds)) {
      throw new InvalidOptionError(
        'defaultSeconds',
        `expected a value in (0, ${this.#profiler.maxSeconds}]`,
      );
    }
    this.#defaultSeconds = seconds;
  }

  /** True when the endpoints serve requests. */
  get enabled(): boolean {
    return this.#enabled;
  }

  /** The path prefix, e.g. `/debug/pprof`. */
  get prefix(): string {
    return this.#prefix;
  }

  /**
   * Answers `req` if its path is under the prefix and the endpoints are enabled; resolves to
   * false (having written nothing) otherwise, so the caller can route it elsewhere.
   */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    if (!this.#enabled) return false;
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (path !== this.#prefix && !path.startsWith(this.#prefix + '/')) return false;
    await this.handleRoute(path.slice(this.#prefix.length + 1), url.searchParams, req, res);
    return true;
  }

  /**
   * Answers a request for `route` (the path after the prefix, e.g. `profile`), for routers
   * that have already matched the prefix. Writes a response in every case.
   */
  async handleRoute(
    route: string,
    query: URLSearchParams,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    if (!this.#enabled) {
      sendJson(res, 404, { code: 'HP_ERR_PROFILE_REQUEST', message: 'profiling is disabled' });
      return;
    }
    const access = checkAccess(req, this.#access);
    if (!access.allowed) {
      if (access.status === 401) res.setHeader('www-authenticate', 'Bearer');
      sendJson(res, access.status, { code: access.code, message: access.message });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      sendJson(res, 405, { code: 'HP_ERR_PROFILE_REQUEST', message: 'use GET' });
      return;
    }
    const abort = new AbortController();
    const onClose = (): void => {
      if (!res.writableFinished) abort.abort(new AbortedError('the client went away'));
    };
    res.on('close', onClose);
    try {
      await this.#route(route.replace(/\/+$/, ''), query, res, abort.signal);
    } catch (error) {
      if (res.headersSent) {
        res.destroy(error as Error);
        return;
      }
      if (error instanceof AbortedError) {
        res.destroy();
        return;
      }
      const status = statusOf(error);
      const code = error instanceof HotpathError ? error.code : 'HP_ERR_PROFILE_REQUEST';
      const message =
        status === 500 ? `profiling failed: ${(error as Error).message}` : (error as Error).message;
      const body: Record<string, unknown> = { code, message };
      if (error instanceof HeapSnapshotRefusedError) body.estimate = error.estimate;
      sendJson(res, status, body);
    } finally {
      res.off('close', onClose);
    }
  }

  /** Closes the profiler the endpoints created, aborting running profiles. */
  async close(): Promise<void> {
    if (this.#ownsProfiler) await this.#profiler.close();
  }

  async #route(
    route: string,
    query: URLSearchParams,
    res: ServerResponse,
    signal: AbortSignal,
  ): Promise<void> {
    const worker = query.get('worker') ?? undefined;
    switch (route) {
      case '':
        return this.#index(res);
      case 'profile': {
        const format = oneOf(query, 'format', ['pprof', 'cpuprofile']);
        const seconds = this.#seconds(query);
        const startedAtMs = Date.now();
        const profile = await this.#profiler.cpuProfileAggregate({ seconds, worker, signal });
        if (format === 'cpuprofile') {
          const json = JSON.stringify(profile.toCpuProfile());
          sendBytes(res, 'application/json', 'profile.cpuprofile', json);
        } else {
          const bytes = profile.encodePprof({ startedAtMs });
          sendBytes(res, 'application/octet-stream', 'cpu.pb.gz', bytes);
        }
        return;
      }
      case 'heap': {
        const format = oneOf(query, 'format', ['pprof', 'heapprofile']);
        const includeCollected = flag(query, 'collected');
        const seconds = this.#seconds(query, Math.min(10, this.#defaultSeconds));
        const profile = await this.#profiler.heapProfile({
          seconds,
          worker,
          signal,
          includeCollected,
        });
        if (format === 'heapprofile') {
          sendBytes(res, 'application/json', 'heap.heapprofile', JSON.stringify(profile));
        } else {
          const pprof = heapProfileToPprof(profile, {
            includeCollected,
            samplingIntervalBytes: this.#profiler.heapSamplingIntervalBytes,
          });
          sendBytes(res, 'application/octet-stream', 'heap.pb.gz', encodePprof(pprof));
        }
        return;
      }
      case 'heapsnapshot': {
        if (worker !== undefined)
          throw new RequestError('heap snapshots are taken of the main thread only');
        const { stream } = this.#profiler.heapSnapshot({ force: flag(query, 'force') });
        res.writeHead(200, {
          'content-type': 'application/json',
          'content-disposition': 'attachment; filename="heap.heapsnapshot"',
          'cache-control': 'no-store',
        });
        await pipeline(stream, res);
        return;
      }
      case 'flamegraph': {
        const kind = oneOf(query, 'kind', ['cpu', 'heap']);
        const seconds = this.#seconds(query, Math.min(10, this.#defaultSeconds));
        const tree =
          kind === 'heap'
            ? treeFromHeapProfile(await this.#profiler.heapProfile({ seconds, worker, signal }))
            : treeFromCpuProfile(await this.#profiler.cpuProfile({ seconds, worker, signal }));
        const what = kind === 'heap' ? 'Heap profile' : 'CPU profile';
        const title = `${what}, ${seconds} s${worker === undefined ? '' : `, worker ${worker}`}`;
        const html = renderFlameGraph(tree, { title });
        res.writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'content-length': Buffer.byteLength(html),
          'cache-control': 'no-store',
          // The page is self-contained: it may load nothing from anywhere.
          'content-security-policy':
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
        });
        res.end(html);
        return;
      }
      case 'handles':
        return sendJson(res, 200, await handlesSummary());
      default:
        return sendJson(res, 404, {
          code: 'HP_ERR_PROFILE_REQUEST',
          message: `no profiling endpoint "${route}"`,
        });
    }
  }

  #seconds(query: URLSearchParams, fallback = this.#defaultSeconds): number {
    const raw = query.get('seconds');
    if (raw === null) return fallback;
    const seconds = Number(raw);
    if (
      raw.trim() === '' ||
      !Number.isFinite(seconds) ||
      seconds <= 0 ||
      seconds > this.#profiler.maxSeconds
    ) {
      throw new RequestError(
        `seconds must be a number in (0, ${this.#profiler.maxSeconds}], got "${raw}"`,
      );
    }
    return seconds;
  }

  #index(res: ServerResponse): void {
    const items = PAGES.map(
      ([href, text]) =>
        `<li><a href="${this.#prefix}/${href}">${href.split('?')[0]}</a> — ${text.replace(/&/g, '&amp;')}</li>`,
    ).join('\n');
    const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${this.#prefix}/</title></head>
<body style="font: 14px system-ui, sans-serif"><h1>${this.#prefix}/</h1>
<p>Profiles of process ${process.pid}. Add <code>&amp;worker=NAME</code> to profile a named worker thread.</p>
<ul>
${items}
</ul></body></html>`;
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(html),
      'cache-control': 'no-store',
    });
    res.end(html);
  }
}

function oneOf<T extends string>(query: URLSearchParams, name: string, allowed: readonly T[]): T {
  const value = query.get(name) ?? allowed[0]!;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new RequestError(`${name} must be one of ${allowed.join(', ')}, got "${value}"`);
  }
  return value as T;
}

function flag(query: URLSearchParams, name: string): boolean {
  const value = query.get(name);
  return value !== null && value !== '0' && value !== 'false';
}
