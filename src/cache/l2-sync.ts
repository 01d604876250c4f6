import { channel } from 'node:diagnostics_channel';
import type { Redis } from 'ioredis';
import { AbortedError } from '../errors/index.js';
import type { Core } from './core.js';
import { type BusMessage, InvalidationBus, formatMessage } from './invalidation-bus.js';
import type { L2Repair } from './l2-repair.js';
import type { Loader } from './loader.js';
import type { RedisTier } from './redis-tier.js';

/**
 * `hotpath:cache:invalidation`: published (only when subscribed) each time an instance
 * applies another instance's invalidation, with `{ cache, type, subject, version }`.
 */
const invalidationChannel = channel('hotpath:cache:invalidation');

/** What {@link L2Sync} works on. */
export interface L2SyncDeps {
  client: Redis;
  core: Core;
  l2: RedisTier;
  loader: Loader;
  repair: L2Repair;
  closed: AbortSignal;
  /** The public cache object, named in diagnostics messages. */
  owner: object;
  deleteKey(key: string): Promise<boolean>;
  deleteTag(tag: string): Promise<boolean>;
}

/**
 * Keeps one instance in step with the others over Redis: applies their invalidation
 * messages to L1, and after a reconnect drops L1 (if messages may have been lost) and
 * replays the changes that could not reach L2 during the outage.
 */
export class L2Sync {
  readonly #deps: L2SyncDeps;
  readonly #bus: InvalidationBus;
  readonly #started: Promise<void>;

  constructor(deps: L2SyncDeps) {
    this.#deps = deps;
    this.#bus = new InvalidationBus(deps.client, deps.l2.channel, {
      onMessage: (m) => this.#onMessage(m),
      onReconnect: () => this.#onReconnect(true),
    });
    deps.core.bus = this.#bus;
    this.#started = this.#bus.start().catch(() => undefined);
    deps.client.on('ready', this.#onClientReady);
    // A timeout marks L2 down without a disconnect: the deletes skipped meanwhile are
    // replayed when it is usable again, or other instances would serve them stale for a TTL.
    deps.l2.onUsableAgain = () => this.#onReconnect(false);
  }

  /** Resolves once the client is connected and the subscription active. */
  async ready(signal?: AbortSignal): Promise<void> {
    const client = this.#deps.client;
    if (client.status !== 'ready') {
      await new Promise<void>((resolve, reject) => {
        const done = (): void => {
          client.off('ready', done);
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = (): void => {
          client.off('ready', done);
          reject(new AbortedError('waiting for Redis was aborted', { cause: signal?.reason }));
        };
        if (signal?.aborted === true) return onAbort();
        client.on('ready', done);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
    await this.#started;
  }

  /** Stops listening and closes the subscriber connection. */
  async close(): Promise<void> {
    this.#deps.client.off('ready', this.#onClientReady);
    this.#deps.l2.stopWatching();
    // Disconnecting first fails a SUBSCRIBE still queued while Redis is down, so close()
    // never waits for Redis to come back.
    await this.#bus.close();
    await this.#started;
  }

  #onMessage(m: BusMessage): void {
    const { core, loader } = this.#deps;
    const l1 = core.l1;
    core.observeVersion(m.version);
    if (m.origin === core.origin) return;
    switch (m.type) {
      case 'i':
        core.noteInvalidation(m.subject, m.version);
        l1.delete(m.subject);
        // A load of the key running here may have read the source before that write: its
        // result is served to its callers but not cached (versions of two instances can tie).
        loader.invalidate(m.subject);
        break;
      case 't':
        for (const key of l1.deleteTag(m.subject)) core.noteInvalidation(key, m.version);
        loader.invalidateTag(m.subject);
        break;
      case 'c':
        l1.clear();
        loader.invalidateAll();
        break;
      default:
        return;
    }
    if (invalidationChannel.hasSubscribers) {
      invalidationChannel.publish({
        cache: this.#deps.owner,
        type: m.type,
        subject: m.subject,
        version: m.version,
      });
    }
  }

  readonly #onClientReady = (): void => {
    this.#onReconnect(false);
  };

  /**
   * Redis is reachable again. If the subscription was lost, invalidations may have been
   * missed: drop L1. Then replay, as deletes, the writes that could not reach L2 meanwhile.
   */
  #onReconnect(subscriptionLost: boolean): void {
    const { core, l2, loader, repair, closed } = this.#deps;
    if (closed.aborted) return;
    l2.markUp();
    if (subscriptionLost) {
      core.l1.clear();
      loader.invalidateAll();
    }
    core.track(
      repair.replay({
        deleteKey: (key) => this.#deps.deleteKey(key),
        deleteTag: (tag) => this.#deps.deleteTag(tag),
        clear: () => l2.clear(formatMessage('c', core.origin, core.nextVersion(), '')),
      }),
    );
  }
}
