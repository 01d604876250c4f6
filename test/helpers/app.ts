/**
 * Builds the payments service app for tests the way main.ts does (settings from the parsed
 * config through appOptions, observability and the cache made beside the app), from a test's
 * overrides and the dependencies it made (database, gateway client, Redis).
 */
import type { FastifyInstance } from 'fastify';
import type { Cache } from 'hotpath/cache';
import {
  appOptions,
  buildApp,
  createPaymentsCache,
  createReceipts,
  type AppDeps,
  type ServiceApp,
} from '../../service/app.js';
import { loadConfig, type ServiceConfig } from '../../service/config.js';
import { createObservability, type Observability } from '../../service/plugins/observability.js';

/**
 * loadConfig's defaults, with logs silent, shedding and the rate limit off (a test turns them
 * on) and N+1 detection on whatever NODE_ENV says, then `overrides`.
 */
export function testConfig(overrides: Partial<ServiceConfig> = {}): ServiceConfig {
  return {
    ...loadConfig({
      LOG_LEVEL: 'silent',
      SHEDDING: 'off',
      RATE_LIMIT_PER_SECOND: '0',
      N_PLUS_ONE_DETECTOR: 'on',
    }),
    ...overrides,
  };
}

/** What a test hands the app: what the composition root builds, less what this helper makes. */
export type TestAppDeps = Omit<AppDeps, 'observability' | 'cache' | 'receipts'>;

/**
 * The app, its payment service, its observability and its cache (CACHE=on); metrics without an
 * `instance` label.
 */
export async function buildTestService(
  overrides: Partial<ServiceConfig>,
  deps: TestAppDeps,
): Promise<ServiceApp & { observability: Observability; cache: Cache | undefined }> {
  const config = testConfig(overrides);
  const observability = createObservability({ instance: undefined });
  const cache = config.cache === 'on' ? createPaymentsCache(deps.cacheRedis) : undefined;
  const built = await buildApp(appOptions(config), {
    ...deps,
    observability,
    cache,
    receipts: createReceipts(config, observability.registry),
  });
  return { ...built, observability, cache };
}

/** The app alone, for tests that only send it requests. */
export async function buildTestApp(
  overrides: Partial<ServiceConfig>,
  deps: TestAppDeps,
): Promise<FastifyInstance> {
  return (await buildTestService(overrides, deps)).app;
}
