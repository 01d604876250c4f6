/**
 * WORKERS=N: the payments service as N processes on one port, with node:cluster. The primary
 * starts the gateway simulator once (its URL goes to every worker), forks the workers, starts
 * another when one dies, serves the merge of every worker's metrics on METRICS_PORT, and on
 * SIGTERM/SIGINT drains every worker before it stops the simulator and exits.
 *
 * Node 20's `net` has no `reusePort`, so N independent processes could not share a port: in
 * cluster mode the primary accepts each connection and hands it to a worker (round robin).
 * Each worker runs the whole service (database pool, cache L1, reconciler); the reconciler is
 * safe across processes (FOR UPDATE SKIP LOCKED) and the embedded database is not, hence
 * DATABASE_URL (checked in config.ts).
 */
import cluster, { type Worker } from 'node:cluster';
import { mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  ClusterMetrics,
  MetricsRegistry,
  shareWithParent,
  type Dashboard,
  type RequestMetrics,
} from 'hotpath/metrics';
import { isLoopback, tokensEqual } from 'hotpath/profile';
import { clusterPanels, ClusterView } from './cluster-dashboard.js';
import type { ServiceConfig } from './config.js';
import { spawnGateway, type SimulatorConfig, type SupervisedGateway } from './gateway/spawn.js';

/** Environment variable that tells a worker its slot (1..N); a replacement keeps the slot. */
const SLOT_ENV = 'HOTPATH_WORKER_SLOT';
/** Environment variable that tells a worker how many workers there are. */
const COUNT_ENV = 'HOTPATH_WORKERS';
/** How often a worker sends its metrics to the primary. */
const SHARE_INTERVAL_MS = 1000;
/** A worker that dies sooner than this after its start is restarted after a growing delay. */
const CRASH_LOOP_MS = 5000;

/** Whether this process is a cluster primary that should fork instead of serving. */
export function isClusterPrimary(config: Pick<ServiceConfig, 'workers'>): boolean {
  return config.workers > 1 && cluster.isPrimary;
}

/** In a cluster worker: its slot (1..N); otherwise undefined. */
export function workerSlot(): number | undefined {
  if (!cluster.isWorker) return undefined;
  const slot = Number(process.env[SLOT_ENV]);
  return Number.isInteger(slot) && slot > 0 ? slot : cluster.worker?.id;
}

/**
 * In a cluster worker: sends the registry's snapshot to the primary every second, as
 * `worker-<slot>`, and adds the dashboard panels of the whole cluster. Returns the function
 * that stops (and tells the primary), or undefined outside a cluster.
 */
export function shareWorkerMetrics(observability: {
  registry: MetricsRegistry;
  requests: RequestMetrics;
  dashboard: Dashboard;
}): (() => Promise<void>) | undefined {
  const slot = workerSlot();
  if (slot === undefined) return undefined;
  const sharing = shareWithParent(observability.registry, {
    source: `worker-${slot}`,
    intervalMs: SHARE_INTERVAL_MS,
  });
  const workers = Number(process.env[COUNT_ENV]);
  const stopPanels = clusterPanels(observability, slot, Number.isInteger(workers) ? workers : 1);
  return async () => {
    stopPanels();
    await sharing.close();
  };
}

/** The settings the primary uses: where it listens, its workers and the simulator it starts. */
export type PrimaryConfig = Pick<
  ServiceConfig,
  | 'host'
  | 'workers'
  | 'instanceId'
  | 'metricsPort'
  | 'metricsToken'
  | 'shutdownTimeoutMs'
  | 'gatewayUrl'
  | 'dataDir'
> &
  SimulatorConfig;

interface PrimaryIo {
  say(message: string): void;
  fatal(message: string): never;
}

/**
 * The primary: simulator, workers, merged /metrics, restarts, drain. Resolves once every
 * worker listens; exits the process after a signal has drained everything.
 */
export async function runPrimary(config: PrimaryConfig, io: PrimaryIo): Promise<void> {
  const { say, fatal } = io;
  let gateway: SupervisedGateway | undefined;
  let gatewayUrl = config.gatewayUrl;
  if (gatewayUrl === undefined) {
    try {
      const ledgerFile = config.dataDir.startsWith('memory://')
        ? undefined
        : join(config.dataDir, 'gateway-ledger.ndjson');
      if (ledgerFile !== undefined) mkdirSync(config.dataDir, { recursive: true });
      const spawned = await spawnGateway(config, {
        log: say,
        ...(ledgerFile === undefined ? {} : { ledgerFile }),
      });
      gateway = spawned;
      gatewayUrl = spawned.url;
      say(`gateway simulator (pid ${spawned.pid}) at ${gatewayUrl}, shared by every worker`);
    } catch (error) {
      fatal(`GATEWAY_PORT: cannot start the gateway simulator: ${(error as Error).message}`);
    }
  }

  const metrics = new ClusterMetrics({
    registry: new MetricsRegistry({ labels: { instance: config.instanceId } }),
  });
  const view = new ClusterView(config.workers);
  const restarts = metrics.registry.counter({
    name: 'hotpath_cluster_worker_restarts_total',
    help: 'Workers started again after one exited unexpectedly',
  });
  const metricsServer = createServer((req, res) => void serveMetrics(req, res));
  async function serveMetrics(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: 'NOT_FOUND', message: `${path} is not served here` }));
      return;
    }
    if (!allowed(req, config.metricsToken)) {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          code: 'FORBIDDEN',
          message: '/metrics answers loopback clients only (or METRICS_TOKEN as a bearer token)',
        }),
      );
      return;
    }
    res.writeHead(200, { 'content-type': metrics.registry.contentType });
    if (req.method === 'HEAD') return void res.end();
    try {
      // Slices of 1 ms, not 0.25: the primary's loop only hands new connections to workers, and
      // on a loaded machine every yield between slices can wait for the scheduler
      // (bench/metrics/cluster-scrape.bench.ts).
      // A client that goes away ends the exposition (and a wait for 'drain' that would never come).
      const gone = new AbortController();
      res.once('close', () => gone.abort());
      for await (const chunk of metrics.registry.stream({ sliceMs: 1, signal: gone.signal })) {
        if (!res.write(chunk)) {
          await new Promise((r) => {
            res.once('drain', r);
            res.once('close', r);
          });
        }
        if (res.destroyed) break;
      }
      res.end();
    } catch {
      res.destroy();
    }
  }
  try {
    await new Promise<void>((resolve, reject) => {
      metricsServer.once('error', reject);
      metricsServer.listen(config.metricsPort, config.host, resolve);
    });
  } catch (error) {
    await gateway?.stop();
    fatal(
      `METRICS_PORT: cannot listen on ${config.host}:${config.metricsPort}: ${(error as Error).message}`,
    );
  }
  const metricsPort = (metricsServer.address() as AddressInfo).port;

  let stopping = false;
  let ready = false;
  const slots = new Map<Worker, number>();
  const failures = new Map<number, number>();
  const fork = (slot: number): Worker => {
    const worker = cluster.fork({
      [SLOT_ENV]: String(slot),
      [COUNT_ENV]: String(config.workers),
      GATEWAY_URL: gatewayUrl,
      INSTANCE_ID: `${config.instanceId}/worker-${slot}`,
    });
    const startedAt = Date.now();
    slots.set(worker, slot);
    metrics.watch(worker);
    view.watch(worker);
    worker.once('listening', () => say(`worker ${slot} (pid ${worker.process.pid}) listening`));
    worker.once('exit', (code, signal) => {
      slots.delete(worker);
      if (stopping) return;
      const how = signal === null ? `code ${code}` : `signal ${signal}`;
      if (!ready) {
        // A worker that cannot start (database unreachable, port taken) already said why.
        console.error(`hotpath: worker ${slot} exited with ${how} while starting; stopping`);
        void shutdown('start failure', 1);
        return;
      }
      // A worker that keeps dying at start waits longer each time (up to 10 s), not a busy loop.
      const quick = Date.now() - startedAt < CRASH_LOOP_MS;
      const n = quick ? (failures.get(slot) ?? 0) + 1 : 0;
      failures.set(slot, n);
      const delayMs = n === 0 ? 0 : Math.min(10_000, 250 * 2 ** (n - 1));
      say(
        `worker ${slot} (pid ${worker.process.pid}) exited with ${how}; starting another${delayMs > 0 ? ` in ${delayMs} ms` : ''}`,
      );
      restarts.inc();
      setTimeout(() => {
        if (!stopping) fork(slot);
      }, delayMs).unref();
    });
    return worker;
  };

  const listening = new Promise<number>((resolve) => {
    let count = 0;
    const onListening = (_worker: Worker, address: { port: number }): void => {
      if (++count === config.workers) {
        cluster.off('listening', onListening);
        resolve(address.port);
      }
    };
    cluster.on('listening', onListening);
  });
  for (let slot = 1; slot <= config.workers; slot++) fork(slot);

  const shutdown = async (signal: string, exitCode = 0): Promise<void> => {
    if (stopping) return;
    stopping = true;
    const workers = [...slots.keys()];
    say(`${signal}: draining ${workers.length} workers`);
    const exited = workers.map(
      (w) =>
        new Promise<void>((resolve) => {
          if (w.isDead()) return resolve();
          w.once('exit', () => resolve());
          w.process.kill('SIGTERM');
        }),
    );
    // Each worker drains within SHUTDOWN_TIMEOUT_MS; one that hangs past that is killed.
    const force = setTimeout(() => {
      for (const w of workers) if (!w.isDead()) w.process.kill('SIGKILL');
    }, config.shutdownTimeoutMs + 5000);
    force.unref();
    await Promise.all(exited);
    clearTimeout(force);
    await new Promise<void>((resolve) => metricsServer.close(() => resolve()));
    await metrics.close();
    await view.close();
    await gateway?.stop();
    say('stopped');
    process.exit(exitCode);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  const port = await listening;
  ready = true;
  say(
    `payments service listening on http://${config.host}:${port} (${config.workers} workers, primary pid ${process.pid})`,
  );
  say(`metrics of all workers on http://${config.host}:${metricsPort}/metrics`);
}

/** Loopback clients through no proxy, or the bearer token: as the service's own /metrics. */
function allowed(req: IncomingMessage, token: string | undefined): boolean {
  if (token !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (match !== null && tokensEqual(match[1]!, token)) return true;
  }
  const proxied = ['forwarded', 'x-forwarded-for', 'x-real-ip', 'x-forwarded-host'].some(
    (h) => req.headers[h] !== undefined,
  );
  return isLoopback(req.socket.remoteAddress) && !proxied;
}
