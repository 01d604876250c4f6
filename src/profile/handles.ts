import { listWorkers } from './inspector-target.js';

/** What keeps the process alive right now: Node's analogue of Go's goroutine profile. */
export interface HandlesSummary {
  /** Active resources by type (`TCPSocketWrap`, `Timeout`, `FSReqCallback`, ...). */
  activeResources: Record<string, number>;
  /** libuv handles by type, counting active and inactive (`unref`ed or stopped) ones. */
  libuvHandles: Record<string, { active: number; inactive: number }>;
  /** Names of the running worker threads. */
  workers: string[];
  /** Event loop utilization since the process started, 0..1. */
  eventLoopUtilization: number;
}

interface ReportHandle {
  type?: string;
  is_active?: boolean;
}

/**
 * Summarizes the active resources (`process.getActiveResourcesInfo()`), the libuv handles (from
 * `process.report`) and the worker threads of the process.
 */
export async function handlesSummary(): Promise<HandlesSummary> {
  const activeResources: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) {
    activeResources[type] = (activeResources[type] ?? 0) + 1;
  }
  const libuvHandles: Record<string, { active: number; inactive: number }> = {};
  const report = process.report?.getReport() as { libuv?: ReportHandle[] } | undefined;
  for (const handle of report?.libuv ?? []) {
    const type = handle.type ?? 'unknown';
    const entry = (libuvHandles[type] ??= { active: 0, inactive: 0 });
    if (handle.is_active === true) entry.active++;
    else entry.inactive++;
  }
  const { performance } = await import('node:perf_hooks');
  return {
    activeResources,
    libuvHandles,
    workers: await listWorkers(),
    eventLoopUtilization: performance.eventLoopUtilization().utilization,
  };
}
