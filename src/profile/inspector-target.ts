import { console as v8Console } from 'node:inspector';
import { Session } from 'node:inspector/promises';
import { WorkerNotFoundError } from './errors.js';

/**
 * Where inspector commands go: the current thread, or a worker thread reached through the
 * main thread's session (the `NodeWorker` domain, as Chrome DevTools attaches to workers).
 */
export interface InspectorTarget {
  /** A label for messages: `main` or the worker's title. */
  readonly label: string;
  /** Sends one Chrome DevTools Protocol command and resolves to its result. */
  post(method: string, params?: object): Promise<unknown>;
  /** Subscribes to a protocol event; returns the unsubscribe function. */
  on(event: string, listener: (params: unknown) => void): () => void;
  /**
   * Starts (or with `end`, stops) a titled console profile in the target by calling V8's own
   * `console.profile` / `console.profileEnd`, when the target runs on the calling thread.
   * Without it, callers evaluate the command in the target.
   */
  consoleProfile?(title: string, end: boolean): void;
  /** Ends the session. Idempotent. */
  close(): Promise<void>;
}

/** Opens an inspector session on the calling thread. */
export function openThreadTarget(): InspectorTarget {
  const session = new Session();
  session.connect();
  let closed = false;
  return {
    label: 'main',
    post: (method, params) =>
      (session.post as (m: string, p?: object) => Promise<unknown>)(method, params),
    on(event, listener) {
      const handler = (message: { params: unknown }): void => listener(message.params);
      session.on(event, handler);
      return () => session.off(event, handler);
    },
    // node:inspector's console is V8's console object itself: an application that replaces
    // `console` or defines a global `profile` cannot get in the way.
    consoleProfile(title, end) {
      if (end) v8Console.profileEnd(title);
      else v8Console.profile(title);
    },
    close() {
      if (!closed) {
        closed = true;
        session.disconnect();
      }
      return Promise.resolve();
    },
  };
}

interface AttachedToWorker {
  sessionId: string;
  workerInfo: { workerId: string; title: string; url: string };
}

interface ProtocolReply {
  id?: number;
  method?: string;
  params?: unknown;
  result?: unknown;
  error?: { message: string };
}

/** Reduces a worker's inspector title (`[worker 3] crunch`) to the name it was given. */
export function workerName(title: string): string {
  return title.replace(/^\[worker \d+\]\s*/, '');
}

/** Lists the names of running worker threads (those started with `new Worker(..., { name })`). */
export async function listWorkers(): Promise<string[]> {
  const session = new Session();
  session.connect();
  try {
    const found = await attachAll(session);
    return found.map((w) => workerName(w.workerInfo.title));
  } finally {
    session.disconnect();
  }
}

async function attachAll(session: Session): Promise<AttachedToWorker[]> {
  const found: AttachedToWorker[] = [];
  const onAttach = (message: { params: AttachedToWorker }): void => {
    found.push(message.params);
  };
  session.on('NodeWorker.attachedToWorker', onAttach);
  try {
    await session.post('NodeWorker.enable', { waitForDebuggerOnStart: false });
    // Existing workers are reported right after enable; one macrotask lets them all arrive.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    session.off('NodeWorker.attachedToWorker', onAttach);
  }
  return found;
}

/**
 * Opens a session on the worker thread named `name` (its `name` option, or its full inspector
 * title). Must be called from the thread that owns the worker; only workers that are running
 * now are found.
 * @throws {@link WorkerNotFoundError} `HP_ERR_PROFILE_WORKER_NOT_FOUND`
 */
export async function openWorkerTarget(name: string): Promise<InspectorTarget> {
  const session = new Session();
  session.connect();
  let found: AttachedToWorker[];
  try {
    found = await attachAll(session);
  } catch (error) {
    session.disconnect();
    throw error;
  }
  const match = found.find(
    (w) => w.workerInfo.title === name || workerName(w.workerInfo.title) === name,
  );
  if (match === undefined) {
    session.disconnect();
    throw new WorkerNotFoundError(
      name,
      found.map((w) => workerName(w.workerInfo.title)),
    );
  }
  for (const other of found) {
    if (other !== match) await session.post('NodeWorker.detach', { sessionId: other.sessionId });
  }
  const sessionId = match.sessionId;
  let nextId = 0;
  let closed = false;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const listeners = new Map<string, Set<(params: unknown) => void>>();
  const onMessage = (message: { params: { sessionId: string; message: string } }): void => {
    if (message.params.sessionId !== sessionId) return;
    const reply = JSON.parse(message.params.message) as ProtocolReply;
    if (reply.id !== undefined) {
      const waiter = pending.get(reply.id);
      pending.delete(reply.id);
      if (reply.error !== undefined) waiter?.reject(new Error(reply.error.message));
      else waiter?.resolve(reply.result);
    } else if (reply.method !== undefined) {
      for (const listener of listeners.get(reply.method) ?? []) listener(reply.params);
    }
  };
  const onDetach = (message: { params: { sessionId: string } }): void => {
    if (message.params.sessionId !== sessionId) return;
    for (const waiter of pending.values()) waiter.reject(new Error(`worker "${name}" exited`));
    pending.clear();
  };
  session.on('NodeWorker.receivedMessageFromWorker', onMessage);
  session.on('NodeWorker.detachedFromWorker', onDetach);
  return {
    label: match.workerInfo.title,
    post(method, params = {}) {
      if (closed) return Promise.reject(new Error(`session to worker "${name}" is closed`));
      const id = ++nextId;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        session
          .post('NodeWorker.sendMessageToWorker', {
            sessionId,
            message: JSON.stringify({ id, method, params }),
          })
          .catch((error: unknown) => {
            pending.delete(id);
            reject(error instanceof Error ? error : new Error(String(error)));
          });
      });
    },
    on(event, listener) {
      let set = listeners.get(event);
      if (set === undefined) listeners.set(event, (set = new Set()));
      set.add(listener);
      return () => set.delete(listener);
    },
    close() {
      if (!closed) {
        closed = true;
        session.off('NodeWorker.receivedMessageFromWorker', onMessage);
        session.off('NodeWorker.detachedFromWorker', onDetach);
        session.disconnect();
      }
      return Promise.resolve();
    },
  };
}
