/**
 * Every switch of the payments service, from environment variables or the equivalent
 * `--kebab-case` flags (flags win). Validated at start: a bad value is one line naming the
 * variable, and exit code 1.
 */
import { isIP } from 'node:net';
import { availableParallelism, hostname } from 'node:os';

export interface ServiceConfig {
  host: string;
  port: number;
  /** A PostgreSQL server; undefined -> embedded PGlite in `dataDir`. */
  databaseUrl: string | undefined;
  dataDir: string;
  dbPoolMax: number;
  /** A streaming replica of `databaseUrl`: reads go there, with read-your-writes per caller. */
  databaseReplicaUrl: string | undefined;
  /**
   * Several PostgreSQL databases, in shard order: each user's payments live on one of them
   * (jump consistent hash of `user_id`, docs/sharding.md). Exclusive with `databaseUrl` and
   * `databaseReplicaUrl`; undefined -> one database.
   */
  databaseShardUrls: readonly string[] | undefined;
  /** Redis for the L2 cache, invalidation bus and rate limits; optional. */
  redisUrl: string | undefined;
  /** `on`: payment reads and user summaries are cached (hotpath/cache); `off`: every read hits the database. */
  cache: 'on' | 'off';
  /** `on`: parameterized queries are sent as named (prepared) statements (PostgreSQL server only). */
  prepared: 'on' | 'off';
  /** `on`: responses of compressible types at least `compressionMinBytes` long are gzip/br-encoded, and GETs get ETags and 304s. */
  compression: 'on' | 'off';
  compressionMinBytes: number;
  /** An external gateway; undefined -> the service starts the simulator as a child process. */
  gatewayUrl: string | undefined;
  gatewayPort: number;
  gatewayLatency: string;
  gatewayFailureRate: number;
  gatewayDeclineRate: number;
  gatewayTimeoutMs: number;
  gatewayRetries: number;
  gatewayConnections: number;
  /** `adaptive`: the gateway's concurrency limit follows its latency; `fixed`: a bulkhead. */
  gatewayLimit: 'adaptive' | 'fixed';
  gatewayMaxConcurrent: number;
  /** Retries allowed as a share of charges (retry budget). */
  gatewayRetryBudget: number;
  /** `off` leaves the gateway client's circuit breaker out (to measure what it buys). */
  gatewayBreaker: 'on' | 'off';
  /**
   * Which peers' `X-Forwarded-For` names the client (Fastify's `trustProxy`): `false` (the
   * socket's address, always) or the addresses and CIDRs of the load balancers. Sets
   * `request.ip`, which the rate limit keys on; the loopback-only endpoints read the socket.
   */
  trustProxy: TrustProxy;
  /** Payments per second one client may create (0 = no limit), and the burst above it. */
  rateLimitPerSecond: number;
  rateLimitBurst: number;
  /** `on`: requests are shed (503 OVERLOADED) by priority while the event loop is overloaded. */
  shedding: 'on' | 'off';
  shedDelayMs: number;
  /** `on` serves the /debug/pprof profiling endpoints to loopback clients. */
  profiling: 'on' | 'off';
  /** Opens /metrics and /dashboard to non-loopback clients sending it as a bearer token. */
  metricsToken: string | undefined;
  /** Dashboard event streams open at once; more are answered 503. */
  dashboardMaxStreams: number;
  bodyLimitBytes: number;
  /** Longest time to receive a whole request (headers and body); slower clients get 408. */
  requestTimeoutMs: number;
  shutdownTimeoutMs: number;
  recoveryIntervalMs: number;
  /** Pending payments the reconciler asks the gateway about at once. */
  reconcileConcurrency: number;
  /** `batched` (one LATERAL query) or `naive` (N+1) for GET /api/users/latest-payments. */
  nPlusOne: 'batched' | 'naive';
  /**
   * `on`: each request runs in an N+1 detection scope (hotpath/db, AsyncLocalStorage: on Node 20
   * its promise hooks cost every request a few microseconds); `off`: no scope, no detection.
   */
  nPlusOneDetector: 'on' | 'off';
  /** `keyset` (index seek after the last id) or `offset` (OFFSET n, the naive shape) for a user's payment pages. */
  pagination: 'keyset' | 'offset';
  /** `pool`: receipts are signed on a worker thread (hotpath/concurrency); `inline`: on the event loop. */
  receipts: 'inline' | 'pool';
  /** Ed25519 private key (PKCS#8 PEM) signing receipts; undefined -> generated at start. */
  receiptKey: string | undefined;
  /** Queries at least this slow are logged once per shape per minute with their plan. */
  slowQueryMs: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Processes serving the port (node:cluster workers); 1 = no cluster. */
  workers: number;
  /** The `instance` label on every exposed series. */
  instanceId: string;
  /** With workers > 1: port of the primary's /metrics, the merge of every worker. */
  metricsPort: number;
}

/** TRUST_PROXY parsed: `false` trusts no proxy, a list trusts those peers (addresses and CIDRs). */
export type TrustProxy = false | readonly string[];

/** A configuration value that is not acceptable; the message starts with the variable's name. */
export class ConfigError extends Error {
  readonly variable: string;
  constructor(variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.variable = variable;
    this.name = 'ConfigError';
  }
}

interface Spec {
  env: string;
  help: string;
  default: string | undefined;
}

/** The documented variables, in the order the README and --help show them. */
export const configSpec: readonly Spec[] = [
  { env: 'HOST', default: '127.0.0.1', help: 'address to listen on' },
  { env: 'PORT', default: '3000', help: 'port to listen on (0 = any free port)' },
  {
    env: 'DATABASE_URL',
    default: undefined,
    help: 'PostgreSQL server URL; unset = embedded PGlite',
  },
  { env: 'DATA_DIR', default: './data', help: 'embedded database directory' },
  { env: 'DB_POOL_MAX', default: '10', help: 'PostgreSQL pool size' },
  {
    env: 'DATABASE_REPLICA_URL',
    default: undefined,
    help: 'streaming replica of DATABASE_URL: reads go there, a caller reads its own writes from the primary until replayed; unset = every query on the primary',
  },
  {
    env: 'DATABASE_SHARD_URLS',
    default: undefined,
    help: 'comma-separated PostgreSQL URLs, 2 to 64, in a fixed order (append only): payments are placed by user_id across them (docs/sharding.md); exclusive with DATABASE_URL and DATABASE_REPLICA_URL',
  },
  { env: 'REDIS_URL', default: undefined, help: 'Redis URL; unset = in-process only' },
  {
    env: 'PREPARED',
    default: 'off',
    help: 'on: send parameterized queries as named (prepared) statements, parsed once per connection (PostgreSQL server only)',
  },
  {
    env: 'CACHE',
    default: 'on',
    help: 'cache payment reads and user summaries: on or off (for side-by-side runs)',
  },
  {
    env: 'COMPRESSION',
    default: 'on',
    help: 'on: gzip/br-encode large responses (Accept-Encoding) and answer GETs with ETag/304; off: neither',
  },
  {
    env: 'COMPRESSION_MIN_BYTES',
    default: '1024',
    help: 'responses smaller than this many bytes are sent uncompressed',
  },
  {
    env: 'GATEWAY_URL',
    default: undefined,
    help: 'payment gateway URL; unset = start the simulator',
  },
  {
    env: 'GATEWAY_PORT',
    default: '3001',
    help: 'port of the started simulator (0 = any free port)',
  },
  {
    env: 'GATEWAY_LATENCY',
    default: 'lognormal:20:150',
    help: 'simulator latency: none, fixed:MS, uniform:A-B, lognormal:MEDIAN:P99',
  },
  { env: 'GATEWAY_FAILURE_RATE', default: '0.01', help: 'simulator share of 503 answers, 0..1' },
  {
    env: 'GATEWAY_DECLINE_RATE',
    default: '0.05',
    help: 'simulator share of declined charges, 0..1',
  },
  { env: 'GATEWAY_TIMEOUT_MS', default: '2000', help: 'timeout of one gateway attempt' },
  { env: 'GATEWAY_RETRIES', default: '2', help: 'gateway retries after the first attempt' },
  { env: 'GATEWAY_CONNECTIONS', default: '64', help: 'keep-alive connections to the gateway' },
  {
    env: 'GATEWAY_LIMIT',
    default: 'adaptive',
    help: 'charges in flight: adaptive (follows the gateway latency) or fixed (a bulkhead)',
  },
  {
    env: 'GATEWAY_MAX_CONCURRENT',
    default: '256',
    help: 'most charges in flight at once (the adaptive limit stays at or below it)',
  },
  {
    env: 'GATEWAY_RETRY_BUDGET',
    default: '1',
    help: 'retries allowed as a share of charges over 10 s (plus 10/s); 0..10',
  },
  {
    env: 'GATEWAY_BREAKER',
    default: 'on',
    help: 'circuit breaker on gateway charges: on or off (for side-by-side runs)',
  },
  {
    env: 'RATE_LIMIT_PER_SECOND',
    default: '1000',
    help: 'payments one client (X-Client-Id, else its address) may create per second; 0 = off',
  },
  { env: 'RATE_LIMIT_BURST', default: '2000', help: 'payments a client may create at once' },
  {
    env: 'TRUST_PROXY',
    default: 'off',
    help: "load balancers whose X-Forwarded-For names the client (the rate limit's address): off, or comma-separated addresses/CIDRs of the balancers; /metrics, /dashboard and /debug/pprof still refuse forwarded requests",
  },
  {
    env: 'SHEDDING',
    default: 'on',
    help: 'shed requests by priority (503 OVERLOADED) while the event loop is overloaded: on or off',
  },
  {
    env: 'SHED_DELAY_MS',
    default: '100',
    help: 'event-loop stall that starts shedding (twice it sheds all sheddable requests)',
  },
  {
    env: 'PROFILING',
    default: 'on',
    help: 'profiling endpoints at /debug/pprof, loopback clients only: on or off',
  },
  {
    env: 'METRICS_TOKEN',
    default: undefined,
    help: 'bearer token that opens /metrics and /dashboard to non-loopback clients (16+ characters); unset = loopback only',
  },
  {
    env: 'DASHBOARD_MAX_STREAMS',
    default: '16',
    help: 'dashboard event streams open at once; more are answered 503',
  },
  { env: 'BODY_LIMIT_BYTES', default: '16384', help: 'largest accepted request body' },
  {
    env: 'REQUEST_TIMEOUT_MS',
    default: '30000',
    help: 'longest time to receive a whole request, headers and body; slower clients get 408',
  },
  {
    env: 'SHUTDOWN_TIMEOUT_MS',
    default: '10000',
    help: 'longest wait for in-flight requests on SIGTERM',
  },
  {
    env: 'RECOVERY_INTERVAL_MS',
    default: '5000',
    help: 'how often pending payments (unknown outcome, crash) are settled with the gateway',
  },
  {
    env: 'RECONCILE_CONCURRENCY',
    default: '32',
    help: 'pending payments the reconciler asks the gateway about at once',
  },
  {
    env: 'N_PLUS_ONE',
    default: 'batched',
    help: 'latest-payments route: batched (one query) or naive (one per user)',
  },
  {
    env: 'N_PLUS_ONE_DETECTOR',
    default: 'auto',
    help: 'per-request N+1 query detection: on, off, or auto (on unless NODE_ENV=production)',
  },
  {
    env: 'PAGINATION',
    default: 'keyset',
    help: "a user's payment pages: keyset (seek after the last id) or offset (OFFSET n, for side-by-side runs)",
  },
  {
    env: 'RECEIPTS',
    default: 'pool',
    help: 'receipt signing (GET /api/payments/:id/receipt): pool (worker thread) or inline (event loop)',
  },
  {
    env: 'RECEIPT_KEY',
    default: undefined,
    help: 'Ed25519 private key (PKCS#8 PEM) signing receipts; unset = a key pair generated at start',
  },
  { env: 'SLOW_QUERY_MS', default: '200', help: 'log queries at least this slow, with their plan' },
  { env: 'LOG_LEVEL', default: 'info', help: 'fatal, error, warn, info, debug, trace or silent' },
  {
    env: 'WORKERS',
    default: '1',
    help: 'processes serving PORT (node:cluster); auto = one per core; more than 1 needs DATABASE_URL or DATABASE_SHARD_URLS',
  },
  {
    env: 'INSTANCE_ID',
    default: undefined,
    help: 'the instance label on every metric; unset = host:pid',
  },
  {
    env: 'METRICS_PORT',
    default: '9464',
    help: "with WORKERS > 1: port of the primary's /metrics, all workers merged (0 = any free port)",
  },
];

/** `--gateway-url x` / `--gateway-url=x` -> { GATEWAY_URL: 'x' }. */
export function parseFlags(argv: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--'))
      throw new ConfigError(arg, 'unexpected argument (flags are --name value)');
    const eq = arg.indexOf('=');
    const name = (eq === -1 ? arg.slice(2) : arg.slice(2, eq)).toUpperCase().replaceAll('-', '_');
    if (!configSpec.some((s) => s.env === name))
      throw new ConfigError(arg, 'unknown flag (see --help)');
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined) throw new ConfigError(arg, 'missing value');
    out[name] = value;
  }
  return out;
}

function integer(name: string, raw: string, min: number, max: number): number {
  const value = Number(raw);
  if (!/^-?\d+$/.test(raw.trim()) || value < min || value > max) {
    throw new ConfigError(name, `expected an integer in [${min}, ${max}], got "${raw}"`);
  }
  return value;
}

function onOff(name: string, raw: string): 'on' | 'off' {
  if (raw !== 'on' && raw !== 'off')
    throw new ConfigError(name, `expected on or off, got "${raw}"`);
  return raw;
}

function oneOf<T extends string>(name: string, raw: string, values: readonly T[]): T {
  if (!(values as readonly string[]).includes(raw))
    throw new ConfigError(name, `expected ${values.join(' or ')}, got "${raw}"`);
  return raw as T;
}

/** `auto` is on in development and tests, off in production (NODE_ENV=production). */
function nPlusOneDetector(raw: string, nodeEnv: string | undefined): 'on' | 'off' {
  const value = oneOf('N_PLUS_ONE_DETECTOR', raw, ['on', 'off', 'auto'] as const);
  if (value !== 'auto') return value;
  return nodeEnv === 'production' ? 'off' : 'on';
}

function decimal(name: string, raw: string, min: number, max: number): number {
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value < min || value > max) {
    throw new ConfigError(name, `expected a number in [${min}, ${max}], got "${raw}"`);
  }
  return value;
}

function fraction(name: string, raw: string): number {
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value < 0 || value > 1) {
    throw new ConfigError(name, `expected a number in [0, 1], got "${raw}"`);
  }
  return value;
}

function token(name: string, raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!/^[\x21-\x7e]{16,1024}$/.test(raw)) {
    throw new ConfigError(name, 'expected 16 to 1024 visible ASCII characters, no spaces');
  }
  return raw;
}

function url(name: string, raw: string | undefined, protocols: string[]): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, `not a URL: "${raw}"`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(
      name,
      `expected ${protocols.map((p) => p + '//').join(' or ')}, got "${parsed.protocol}//"`,
    );
  }
  return raw;
}

/**
 * `off` -> false; `10.0.0.5,10.1.0.0/16,::1` -> those peers. No hop count: it cannot tell the
 * balancer from a client that connects directly with a forged header (Fastify 5 trusts no one
 * for a number), and no host names: the peer is matched by address.
 */
function trustProxy(raw: string): TrustProxy {
  const name = 'TRUST_PROXY';
  const value = raw.trim();
  if (value === 'off') return false;
  if (/^\d+$/.test(value)) {
    throw new ConfigError(
      name,
      `got the hop count "${value}": list the balancers' addresses or CIDRs instead (a hop count cannot tell a balancer from a client forging X-Forwarded-For)`,
    );
  }
  const entries = value.split(',').map((part) => part.trim());
  entries.forEach((entry, i) => {
    const [address = '', prefix, extra] = entry.split('/');
    const family = isIP(address);
    if (family === 0) {
      throw new ConfigError(
        name,
        `entry ${i} "${entry}": expected off, or comma-separated IP addresses or CIDRs (10.0.0.5,10.1.0.0/16)`,
      );
    }
    const width = family === 4 ? 32 : 128;
    if (
      extra !== undefined ||
      (prefix !== undefined && (!/^\d+$/.test(prefix) || Number(prefix) > width))
    ) {
      throw new ConfigError(
        name,
        `entry ${i} "${entry}": a CIDR prefix is an integer in [0, ${width}] for IPv${family}`,
      );
    }
  });
  return entries;
}

/** Most shards: a payment id keeps its shard's index in 6 bits (service/payments/uuid7.ts). */
export const MAX_SHARDS = 64;

function shardUrls(raw: string | undefined): readonly string[] | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const name = 'DATABASE_SHARD_URLS';
  const urls = raw.split(',').map((part) => part.trim());
  if (urls.length < 2 || urls.length > MAX_SHARDS) {
    throw new ConfigError(
      name,
      `expected 2 to ${MAX_SHARDS} comma-separated URLs, got ${urls.length} (one database is DATABASE_URL)`,
    );
  }
  urls.forEach((value, i) => {
    if (value === '') throw new ConfigError(name, `shard ${i}: empty URL`);
    try {
      url(name, value, ['postgres:', 'postgresql:']);
    } catch (error) {
      throw new ConfigError(
        name,
        `shard ${i}: ${(error as ConfigError).message.slice(name.length + 2)}`,
      );
    }
  });
  const seen = new Set<string>();
  urls.forEach((value, i) => {
    if (seen.has(value)) throw new ConfigError(name, `shard ${i} repeats an earlier URL`);
    seen.add(value);
  });
  return urls;
}

/** Reads and validates the configuration. @throws ConfigError naming the first bad variable. */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
  argv: readonly string[] = [],
): ServiceConfig {
  const merged: Record<string, string | undefined> = { ...env, ...parseFlags(argv) };
  const get = (name: string): string => {
    const value = merged[name];
    if (value !== undefined && value !== '') return value;
    return configSpec.find((s) => s.env === name)?.default ?? '';
  };
  const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
  const logLevel = get('LOG_LEVEL') as ServiceConfig['logLevel'];
  if (!logLevels.includes(logLevel)) {
    throw new ConfigError(
      'LOG_LEVEL',
      `expected one of ${logLevels.join(', ')}, got "${logLevel}"`,
    );
  }
  const latency = get('GATEWAY_LATENCY');
  if (
    !/^(none|0|fixed:\d+(\.\d+)?|uniform:\d+(\.\d+)?-\d+(\.\d+)?|lognormal:\d+(\.\d+)?:\d+(\.\d+)?)$/.test(
      latency,
    )
  ) {
    throw new ConfigError(
      'GATEWAY_LATENCY',
      `expected none, fixed:MS, uniform:MIN-MAX or lognormal:MEDIAN:P99, got "${latency}"`,
    );
  }
  const nPlusOne = get('N_PLUS_ONE');
  if (nPlusOne !== 'batched' && nPlusOne !== 'naive') {
    throw new ConfigError('N_PLUS_ONE', `expected batched or naive, got "${nPlusOne}"`);
  }
  const receipts = get('RECEIPTS');
  if (receipts !== 'inline' && receipts !== 'pool') {
    throw new ConfigError('RECEIPTS', `expected inline or pool, got "${receipts}"`);
  }
  const workersRaw = get('WORKERS');
  const workers =
    workersRaw === 'auto' ? availableParallelism() : integer('WORKERS', workersRaw, 1, 256);
  const databaseUrl = url('DATABASE_URL', merged.DATABASE_URL, ['postgres:', 'postgresql:']);
  const databaseShardUrls = shardUrls(merged.DATABASE_SHARD_URLS);
  if (databaseShardUrls !== undefined && databaseUrl !== undefined) {
    throw new ConfigError(
      'DATABASE_SHARD_URLS',
      'give DATABASE_URL (one database) or DATABASE_SHARD_URLS (several), not both',
    );
  }
  if (workers > 1 && databaseUrl === undefined && databaseShardUrls === undefined) {
    throw new ConfigError(
      'WORKERS',
      `${workersRaw} workers need DATABASE_URL or DATABASE_SHARD_URLS: the embedded database (PGlite) belongs to one process`,
    );
  }
  const databaseReplicaUrl = url('DATABASE_REPLICA_URL', merged.DATABASE_REPLICA_URL, [
    'postgres:',
    'postgresql:',
  ]);
  if (databaseReplicaUrl !== undefined && databaseShardUrls !== undefined) {
    throw new ConfigError(
      'DATABASE_REPLICA_URL',
      'replicas of sharded databases are not supported: one replica URL cannot serve several shards (unset it with DATABASE_SHARD_URLS)',
    );
  }
  if (databaseReplicaUrl !== undefined && databaseUrl === undefined) {
    throw new ConfigError(
      'DATABASE_REPLICA_URL',
      'a replica needs DATABASE_URL, its primary (the embedded database has no replicas)',
    );
  }
  const instanceId = get('INSTANCE_ID') || `${hostname()}:${process.pid}`;
  if (!/^[\x21-\x7e]{1,128}$/.test(instanceId)) {
    throw new ConfigError('INSTANCE_ID', 'expected 1 to 128 visible ASCII characters, no spaces');
  }
  const receiptKey = merged.RECEIPT_KEY === '' ? undefined : merged.RECEIPT_KEY;
  if (receiptKey !== undefined && !receiptKey.includes('PRIVATE KEY')) {
    throw new ConfigError('RECEIPT_KEY', 'expected an Ed25519 private key in PKCS#8 PEM');
  }
  return {
    host: get('HOST'),
    port: integer('PORT', get('PORT'), 0, 65535),
    databaseUrl,
    dataDir: get('DATA_DIR'),
    dbPoolMax: integer('DB_POOL_MAX', get('DB_POOL_MAX'), 1, 1000),
    databaseReplicaUrl,
    databaseShardUrls,
    redisUrl: url('REDIS_URL', merged.REDIS_URL, ['redis:', 'rediss:']),
    prepared: onOff('PREPARED', get('PREPARED')),
    cache: onOff('CACHE', get('CACHE')),
    compression: onOff('COMPRESSION', get('COMPRESSION')),
    compressionMinBytes: integer(
      'COMPRESSION_MIN_BYTES',
      get('COMPRESSION_MIN_BYTES'),
      0,
      1_073_741_824,
    ),
    gatewayUrl: url('GATEWAY_URL', merged.GATEWAY_URL, ['http:', 'https:']),
    gatewayPort: integer('GATEWAY_PORT', get('GATEWAY_PORT'), 0, 65535),
    gatewayLatency: latency,
    gatewayFailureRate: fraction('GATEWAY_FAILURE_RATE', get('GATEWAY_FAILURE_RATE')),
    gatewayDeclineRate: fraction('GATEWAY_DECLINE_RATE', get('GATEWAY_DECLINE_RATE')),
    gatewayTimeoutMs: integer('GATEWAY_TIMEOUT_MS', get('GATEWAY_TIMEOUT_MS'), 1, 600_000),
    gatewayRetries: integer('GATEWAY_RETRIES', get('GATEWAY_RETRIES'), 0, 10),
    gatewayConnections: integer('GATEWAY_CONNECTIONS', get('GATEWAY_CONNECTIONS'), 1, 10_000),
    gatewayLimit: oneOf('GATEWAY_LIMIT', get('GATEWAY_LIMIT'), ['adaptive', 'fixed'] as const),
    gatewayMaxConcurrent: integer(
      'GATEWAY_MAX_CONCURRENT',
      get('GATEWAY_MAX_CONCURRENT'),
      1,
      100_000,
    ),
    gatewayBreaker: onOff('GATEWAY_BREAKER', get('GATEWAY_BREAKER')),
    gatewayRetryBudget: decimal('GATEWAY_RETRY_BUDGET', get('GATEWAY_RETRY_BUDGET'), 0, 10),
    trustProxy: trustProxy(get('TRUST_PROXY')),
    rateLimitPerSecond: integer(
      'RATE_LIMIT_PER_SECOND',
      get('RATE_LIMIT_PER_SECOND'),
      0,
      10_000_000,
    ),
    rateLimitBurst: integer('RATE_LIMIT_BURST', get('RATE_LIMIT_BURST'), 1, 10_000_000),
    shedding: onOff('SHEDDING', get('SHEDDING')),
    shedDelayMs: integer('SHED_DELAY_MS', get('SHED_DELAY_MS'), 1, 60_000),
    profiling: onOff('PROFILING', get('PROFILING')),
    metricsToken: token('METRICS_TOKEN', merged.METRICS_TOKEN),
    dashboardMaxStreams: integer('DASHBOARD_MAX_STREAMS', get('DASHBOARD_MAX_STREAMS'), 1, 1000),
    bodyLimitBytes: integer('BODY_LIMIT_BYTES', get('BODY_LIMIT_BYTES'), 256, 10_485_760),
    requestTimeoutMs: integer('REQUEST_TIMEOUT_MS', get('REQUEST_TIMEOUT_MS'), 100, 600_000),
    shutdownTimeoutMs: integer('SHUTDOWN_TIMEOUT_MS', get('SHUTDOWN_TIMEOUT_MS'), 0, 600_000),
    recoveryIntervalMs: integer(
      'RECOVERY_INTERVAL_MS',
      get('RECOVERY_INTERVAL_MS'),
      100,
      86_400_000,
    ),
    reconcileConcurrency: integer('RECONCILE_CONCURRENCY', get('RECONCILE_CONCURRENCY'), 1, 1024),
    nPlusOne,
    nPlusOneDetector: nPlusOneDetector(get('N_PLUS_ONE_DETECTOR'), env.NODE_ENV),
    pagination: oneOf('PAGINATION', get('PAGINATION'), ['keyset', 'offset'] as const),
    receipts,
    receiptKey,
    slowQueryMs: integer('SLOW_QUERY_MS', get('SLOW_QUERY_MS'), 0, 3_600_000),
    logLevel,
    workers,
    instanceId,
    metricsPort: integer('METRICS_PORT', get('METRICS_PORT'), 0, 65535),
  };
}

/** The --help text: every variable with its default. */
export function configHelp(): string {
  const width = Math.max(...configSpec.map((s) => s.env.length));
  const lines = configSpec.map(
    (s) =>
      `  ${s.env.padEnd(width)}  ${s.help}${s.default === undefined ? '' : ` (default ${s.default})`}`,
  );
  return [
    'usage: npm start [-- --flag value ...]',
    '',
    'The hotpath reference payments service. Every setting is an environment variable or the',
    'same name as a flag (PORT=4000 or --port 4000; flags win):',
    '',
    ...lines,
  ].join('\n');
}
