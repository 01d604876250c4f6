import type { Redis } from 'ioredis';

/**
 * A message on the namespace's channel. Published by the Lua scripts of the Redis tier, in
 * the same atomic step as the write it announces, as `<type>|<origin>|<version>|<subject>`:
 *
 * - `i` a key was written or deleted (subject: the key); drops it from every other L1 and
 *   wakes the instances waiting for that key's lease holder;
 * - `r` a lease holder gave up without writing (subject: the key); wakes the waiters;
 * - `t` every key with a tag was deleted (subject: the tag);
 * - `c` the namespace was cleared.
 */
export interface BusMessage {
  type: 'i' | 'r' | 't' | 'c';
  origin: string;
  version: number;
  subject: string;
}

/** Formats a bus message. */
export function formatMessage(
  type: BusMessage['type'],
  origin: string,
  version: number,
  subject: string,
): string {
  return `${type}|${origin}|${version}|${subject}`;
}

function parseMessage(text: string): BusMessage | undefined {
  const a = text.indexOf('|');
  const b = text.indexOf('|', a + 1);
  const c = text.indexOf('|', b + 1);
  if (a !== 1 || b < 0 || c < 0) return undefined;
  const type = text[0] as BusMessage['type'];
  if (type !== 'i' && type !== 'r' && type !== 't' && type !== 'c') return undefined;
  return {
    type,
    origin: text.slice(a + 1, b),
    version: Number(text.slice(b + 1, c)),
    subject: text.slice(c + 1),
  };
}

/** Callbacks of {@link InvalidationBus}. */
export interface BusHandlers {
  /** Every parsed message, including this instance's own. */
  onMessage(message: BusMessage): void;
  /** The subscription came back after a disconnect: messages may have been lost meanwhile. */
  onReconnect(): void;
}

/** A registered wait for a key's next `i` or `r` message. */
export interface KeyWaiter {
  /** Settles on the message, or false when cancelled. */
  promise: Promise<boolean>;
  cancel(): void;
}

/**
 * The subscriber side of cross-instance invalidation and of the distributed single-flight
 * wake-up: one extra connection (a duplicate of the caller's client) subscribed to one
 * channel per namespace. Waiting instances are woken by the lease holder's write message, so
 * nobody polls Redis.
 */
export class InvalidationBus {
  readonly #subscriber: Redis;
  readonly #channel: string;
  readonly #handlers: BusHandlers;
  readonly #waiters = new Map<string, Set<(woken: boolean) => void>>();
  #subscribed = false;
  #lost = false;
  #closed = false;

  constructor(client: Redis, channel: string, handlers: BusHandlers) {
    this.#channel = channel;
    this.#handlers = handlers;
    // Whatever the caller's client does (lazyConnect, no offline queue), the subscriber
    // connects at once, queues SUBSCRIBE until connected and re-subscribes after reconnects.
    this.#subscriber = client.duplicate({
      lazyConnect: false,
      enableOfflineQueue: true,
      autoResubscribe: true,
      maxRetriesPerRequest: null,
    });
    this.#subscriber.on('error', () => {
      // Connection errors surface as 'close' + reconnect; the cache degrades meanwhile.
    });
    this.#subscriber.on('close', () => {
      if (this.#subscribed) this.#lost = true;
    });
    this.#subscriber.on('ready', () => {
      if (this.#lost && !this.#closed) {
        this.#lost = false;
        this.#handlers.onReconnect();
      }
    });
    this.#subscriber.on('message', (channel: string, text: string) => {
      if (channel !== this.#channel) return;
      const message = parseMessage(text);
      if (message === undefined) return;
      if (message.type === 'i' || message.type === 'r') this.#wake(message.subject);
      this.#handlers.onMessage(message);
    });
  }

  /** Subscribes; resolves once the subscription is confirmed (or rejects if Redis is down). */
  async start(): Promise<void> {
    await this.#subscriber.subscribe(this.#channel);
    this.#subscribed = true;
  }

  /** True while subscribed and connected: only then can a waiter rely on a wake-up. */
  get ready(): boolean {
    return this.#subscribed && !this.#closed && this.#subscriber.status === 'ready';
  }

  /** Registers interest in the next message about `key`; register before re-reading L2. */
  waitFor(key: string): KeyWaiter {
    let settle!: (woken: boolean) => void;
    const promise = new Promise<boolean>((resolve) => (settle = resolve));
    let set = this.#waiters.get(key);
    if (set === undefined) this.#waiters.set(key, (set = new Set()));
    set.add(settle);
    return {
      promise,
      cancel: () => {
        const current = this.#waiters.get(key);
        if (current?.delete(settle) === true && current.size === 0) this.#waiters.delete(key);
        settle(false);
      },
    };
  }

  #wake(key: string): void {
    const set = this.#waiters.get(key);
    if (set === undefined) return;
    this.#waiters.delete(key);
    for (const settle of set) settle(true);
  }

  /** Unsubscribes, wakes every waiter and closes the duplicate connection. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const set of this.#waiters.values()) for (const settle of set) settle(false);
    this.#waiters.clear();
    this.#subscriber.disconnect();
    await Promise.resolve();
  }
}
