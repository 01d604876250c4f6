import type { DeadlineQueue } from './deadline.js';
import { StoppableContext, type CallContext } from './policy.js';

/**
 * A call with a deadline in a {@link DeadlineQueue}, as a Timeout's attempts and a Retry's
 * `deadlineMs` calls are: its promise, its place in the queue, and the one way it ends (once,
 * leaving the queue and the signals it listened to, letting go of its resolvers). Subclasses
 * say what runs and what expiry or an abort does. Internal, not exported from the module.
 */
export abstract class DeadlineCall<T> extends StoppableContext {
  // Assigned, not class fields: see CallContext.
  declare resolve: (value: T | PromiseLike<T>) => void;
  declare reject: (error: unknown) => void;
  readonly #queue: DeadlineQueue;

  constructor(queue: DeadlineQueue, parent: CallContext, attempt: number) {
    super(parent, attempt);
    this.resolve = noop;
    this.reject = noop;
    this.#queue = queue;
  }

  /** Makes the call's promise, enters the queue and listens to the caller's signal. */
  protected begin(): Promise<T> {
    const promise = new Promise<T>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.#queue.add(this);
    this.listenToCaller();
    return promise;
  }

  /** Ends the call unless it ended already (leaving the queue); true when this call ended it. */
  protected finish(): boolean {
    if (this.settled) return false;
    this.#queue.settle(this);
    this.release();
    return true;
  }

  // A settled call may wait in the queue until the head gets past it: it lets go of its
  // promise's resolvers (and so of the value) as it settles.
  protected resolveWith(value: T | PromiseLike<T>): void {
    const resolve = this.resolve;
    this.forget();
    resolve(value);
  }

  protected rejectWith(error: unknown): void {
    const reject = this.reject;
    this.forget();
    reject(error);
  }

  /** Lets go of what the call holds; a subclass adds its own fields. */
  protected forget(): void {
    this.resolve = noop;
    this.reject = noop;
  }
}

function noop(): void {}
