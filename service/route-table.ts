/**
 * The service's routes as Fastify registered them, for the start-up banner: recorded by an
 * `onRoute` hook, so a route added anywhere (a plugin, a later feature) is listed without a
 * hand-kept list to forget.
 */
import type { FastifyInstance } from 'fastify';

/** One registered route: its method and URL pattern. */
export interface RouteEntry {
  method: string;
  url: string;
}

const tables = new WeakMap<FastifyInstance, RouteEntry[]>();

/** Starts recording the routes of `app`; call it before any route is declared. */
export function recordRoutes(app: FastifyInstance): void {
  const table: RouteEntry[] = [];
  tables.set(app, table);
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    // Fastify adds a HEAD route beside each GET: listing both says nothing more.
    for (const method of methods) if (method !== 'HEAD') table.push({ method, url: route.url });
  });
}

/** The routes recorded for `app` so far (empty when {@link recordRoutes} was not called). */
export function routesOf(app: FastifyInstance): readonly RouteEntry[] {
  return tables.get(app) ?? [];
}

const pages: readonly { url: string; label: string; show: string }[] = [
  { url: '/dashboard', label: 'dashboard', show: '/dashboard' },
  { url: '/metrics', label: 'metrics', show: '/metrics' },
  { url: '/debug/pprof', label: 'profiling', show: '/debug/pprof/' },
];

/**
 * The banner lines after "listening": the dashboard, /metrics and /debug/pprof/ when they are
 * served, then every API and health route, sorted by path.
 */
export function startupBanner(base: string, routes: readonly RouteEntry[]): string[] {
  const lines: string[] = [];
  for (const page of pages) {
    if (routes.some((r) => r.method === 'GET' && r.url === page.url))
      lines.push(`  ${page.label.padEnd(10)} ${base}${page.show}`);
  }
  const api = routes
    .filter((r) => r.url.startsWith('/api/') || r.url.startsWith('/health/'))
    .sort((a, b) => (a.url === b.url ? a.method.localeCompare(b.method) : a.url < b.url ? -1 : 1));
  for (const r of api) lines.push(`  ${r.method.padEnd(6)} ${base}${r.url}`);
  return lines;
}
