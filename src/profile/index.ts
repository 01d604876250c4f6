/**
 * @module hotpath/profile
 * On-demand profiling for Node services, modelled on Go's net/http/pprof and built on
 * `node:inspector` alone (no native addon): CPU profiles (pprof protobuf or `.cpuprofile`),
 * sampling heap profiles, heap snapshots behind a memory and pause cost check, a
 * self-contained interactive flame graph page, an active handles summary, worker-thread
 * targets, source-mapped frames, and a diff of two profiles. The endpoints are off unless
 * enabled and answer loopback clients only unless a bearer token is set.
 *
 * It does not profile continuously, upload profiles anywhere, or read native (C++) stacks.
 */
export { Profiler } from './profiler.js';
export type { ProfilerOptions, ProfileRequest, HeapProfileRequest } from './profiler.js';
export { ProfilingEndpoints } from './endpoints.js';
export type { ProfilingEndpointsOptions } from './endpoints.js';
export { fastifyProfiling } from './fastify-plugin.js';
export type { FastifyProfilingOptions } from './fastify-plugin.js';
export { checkAccess, isLoopback, tokensEqual } from './access.js';
export type { AccessOptions, AccessDecision } from './access.js';
export { takeCpuProfile, selfTimes } from './cpu-profile.js';
export type { CpuProfile, CpuProfileNode, CallFrame, CpuProfileOptions } from './cpu-profile.js';
export { takeChunkedCpuProfile } from './chunked-cpu-profile.js';
export type { ChunkedCpuProfileOptions } from './chunked-cpu-profile.js';
export { CpuProfileAggregate } from './cpu-profile-aggregate.js';
export type { CpuProfileAggregateOptions, AggregatePprofOptions } from './cpu-profile-aggregate.js';
export { takeHeapProfile } from './heap-profile.js';
export type { HeapProfile, HeapProfileNode, HeapProfileOptions } from './heap-profile.js';
export {
  checkSnapshotCost,
  estimateSnapshot,
  heapSnapshotStream,
  systemMemory,
} from './heap-snapshot.js';
export type { MemoryReader, SnapshotLimits } from './heap-snapshot.js';
export { openThreadTarget, openWorkerTarget, listWorkers, workerName } from './inspector-target.js';
export type { InspectorTarget } from './inspector-target.js';
export { SourceMapResolver, displayPath } from './source-maps.js';
export type { OriginalPosition } from './source-maps.js';
export {
  cpuProfileToPprof,
  heapProfileToPprof,
  encodePprof,
  decodePprof,
  readProfileTree,
} from './pprof.js';
export type { CpuPprofOptions, HeapPprofOptions } from './pprof.js';
export {
  treeFromCpuProfile,
  treeFromHeapProfile,
  topFunctions,
  functionKey,
} from './profile-tree.js';
export type { ProfileTree, TreeNode, FunctionTotal, CpuTreeOptions } from './profile-tree.js';
export { renderFlameGraph } from './flamegraph.js';
export type { FlameGraphOptions } from './flamegraph.js';
export { diffProfiles, formatDiffTable } from './diff.js';
export type { ProfileDiff, FunctionDelta } from './diff.js';
export { handlesSummary } from './handles.js';
export type { HandlesSummary } from './handles.js';
export {
  ProfileBusyError,
  HeapSnapshotRefusedError,
  WorkerNotFoundError,
  ProfileDecodeError,
} from './errors.js';
export type { HeapSnapshotEstimate } from './errors.js';
