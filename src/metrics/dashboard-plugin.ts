import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import type { ServerResponse } from 'node:http';
import type { FastifyPluginCallback } from 'fastify';
import { InvalidOptionError } from '../errors/index.js';
import { Dashboard, type DashboardEvent } from './dashboard.js';

/** Options of {@link fastifyDashboard}. */
export interface FastifyDashboardOptions {
  /** The panels and their data. */
  dashboard: Dashboard;
  /** Where the page lives. @defaultValue `'/dashboard'` */
  path?: string;
  /** Comment line sent on idle streams so proxies keep them open, in ms. @defaultValue 15000 */
  heartbeatMs?: number;
  /**
   * Event streams open at once. Each holds a subscriber and gets the history on connect
   * (a few hundred KB), so the count is capped: one more is answered 503
   * `{ code: 'TOO_MANY_STREAMS', message }` with `Retry-After`. @defaultValue 16
   */
  maxStreams?: number;
}

interface Asset {
  body: Buffer;
  type: string;
}

/**
 * The package root: the nearest folder above this file whose package.json is hotpath's. It
 * works from `src/metrics/` (tests, tsx) and from `dist/src/metrics/` (built), where the
 * compiler copies no assets.
 */
function packageRoot(): string {
  let dir = import.meta.dirname;
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'hotpath') {
          return dir;
        }
      } catch {
        // An unreadable package.json on the way up is not ours; keep climbing.
      }
    }
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error('hotpath package root not found above ' + import.meta.dirname);
    dir = parent;
  }
}

let cachedAssets: Map<string, Asset> | undefined;

/** Reads the page's files once: dashboard/*, and uPlot from its package (no CDN). */
function loadAssets(): Map<string, Asset> {
  if (cachedAssets !== undefined) return cachedAssets;
  const root = packageRoot();
  const uplot = dirname(createRequire(join(root, 'package.json')).resolve('uplot'));
  const files: Array<[string, string, string]> = [
    ['index.html', resolve(root, 'dashboard/index.html'), 'text/html; charset=utf-8'],
    ['main.js', resolve(root, 'dashboard/main.js'), 'text/javascript; charset=utf-8'],
    ['style.css', resolve(root, 'dashboard/style.css'), 'text/css; charset=utf-8'],
    ['uPlot.iife.min.js', join(uplot, 'uPlot.iife.min.js'), 'text/javascript; charset=utf-8'],
    ['uPlot.min.css', join(uplot, 'uPlot.min.css'), 'text/css; charset=utf-8'],
  ];
  cachedAssets = new Map(
    files.map(([name, file, type]) => [name, { body: readFileSync(file), type }]),
  );
  return cachedAssets;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Fastify plugin serving the live dashboard: the page at `path`, its scripts and styles
 * (uPlot included, served from the package: works offline) under `path/assets/`, and the
 * Server-Sent Events stream of frames at `path/events`. The stream is left out of request
 * metrics (route config `hotpathMetrics: false`) so its long life does not skew latency.
 * At most `maxStreams` streams are open at once. Mount it behind authentication if the
 * service is public.
 */
export const fastifyDashboard: FastifyPluginCallback<FastifyDashboardOptions> = Object.assign(
  function fastifyDashboard(
    fastify: Parameters<FastifyPluginCallback<FastifyDashboardOptions>>[0],
    options: FastifyDashboardOptions,
    done: (err?: Error) => void,
  ): void {
    let assets: Map<string, Asset>;
    let path: string;
    let heartbeatMs: number;
    let maxStreams: number;
    try {
      if (!(options?.dashboard instanceof Dashboard)) {
        throw new InvalidOptionError('dashboard', 'expected a Dashboard');
      }
      path = (options.path ?? '/dashboard').replace(/\/+$/, '');
      if (!path.startsWith('/')) throw new InvalidOptionError('path', 'must start with /');
      heartbeatMs = options.heartbeatMs ?? 15_000;
      if (!(heartbeatMs > 0)) throw new InvalidOptionError('heartbeatMs', 'expected > 0');
      maxStreams = options.maxStreams ?? 16;
      if (!Number.isInteger(maxStreams) || maxStreams < 1) {
        throw new InvalidOptionError('maxStreams', 'expected an integer >= 1');
      }
      assets = loadAssets();
    } catch (error) {
      done(error as Error);
      return;
    }
    const dashboard = options.dashboard;
    const html = assets
      .get('index.html')!
      .body.toString('utf8')
      .replaceAll('{{base}}', escapeHtml(path))
      .replaceAll('{{title}}', escapeHtml(dashboard.title));
    const streams = new Set<ServerResponse>();

    const page = async (
      _request: unknown,
      reply: { type(t: string): { send(b: string): unknown } },
    ) => reply.type('text/html; charset=utf-8').send(html);
    fastify.get(path, page);
    fastify.get(`${path}/`, page);
    fastify.get<{ Params: { name: string } }>(`${path}/assets/:name`, async (request, reply) => {
      const asset =
        request.params.name === 'index.html' ? undefined : assets.get(request.params.name);
      if (asset === undefined)
        return reply.code(404).send({ code: 'NOT_FOUND', message: 'no such asset' });
      return reply.type(asset.type).header('cache-control', 'public, max-age=300').send(asset.body);
    });
    fastify.get(`${path}/events`, { config: { hotpathMetrics: false } }, (request, reply) => {
      if (streams.size >= maxStreams) {
        return reply
          .code(503)
          .header('retry-after', '5')
          .send({
            code: 'TOO_MANY_STREAMS',
            message: `the dashboard serves at most ${maxStreams} event streams at once`,
          });
      }
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      const send = (text: string): void => {
        // A client that does not keep up misses frames instead of growing our buffers.
        if (!res.writableNeedDrain) res.write(text);
      };
      res.write(`retry: 2000\n\nevent: panels\ndata: ${JSON.stringify(dashboard.panels())}\n\n`);
      res.write(`event: history\ndata: ${JSON.stringify(dashboard.history())}\n\n`);
      const unsubscribe = dashboard.subscribe((event: DashboardEvent) => {
        if (event.type === 'frame') send(`data: ${JSON.stringify(event.frame)}\n\n`);
        else send(`event: panels\ndata: ${JSON.stringify(event.panels)}\n\n`);
      });
      const heartbeat = setInterval(() => send(': keep-alive\n\n'), heartbeatMs);
      heartbeat.unref();
      streams.add(res);
      request.raw.once('close', () => {
        clearInterval(heartbeat);
        unsubscribe();
        streams.delete(res);
      });
    });
    // Open streams would keep server.close() waiting forever.
    fastify.addHook('preClose', (next) => {
      for (const res of streams) res.end();
      next();
    });
    done();
  },
  {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: 'hotpath-dashboard',
  },
);
