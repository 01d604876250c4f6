/**
 * @module hotpath/concurrency
 * Bounded concurrency for a Node.js service: a worker-thread pool for CPU-bound work (on
 * piscina) with a bounded queue, cancellation and metrics; `map` and `mapIterable`, which run
 * an async function over an (async) iterable with a hard limit on calls in flight and on
 * items held; and `pipeline`, which chains such stages with backpressure and per-stage stats.
 *
 * It does not schedule across processes or machines, and it does not make I/O faster: a pool
 * only helps work that holds the CPU.
 */
export { WorkerPool } from './worker-pool.js';
export type { WorkerPoolOptions, RunTaskOptions, WorkerPoolStats } from './worker-pool.js';
export { PoolQueueFullError } from './errors.js';
export { map, mapIterable } from './map.js';
export type { MapIterableOptions } from './map.js';
export type { MapFn, MapOptions } from './map-engine.js';
export { pipeline, Pipeline } from './pipeline.js';
export type { PipelineStage, PipelineOptions, StageStats } from './pipeline.js';
