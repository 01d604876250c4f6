/**
 * The open model's waiting room: intended send times of requests that found every connection
 * busy, oldest first. An array with a moving head, compacted when half of it is consumed, so
 * shift() is O(1) amortized.
 */
export class TimeQueue {
  #items: number[] = [];
  #head = 0;
  /** Requests waiting. */
  get size(): number {
    return this.#items.length - this.#head;
  }
  /** Adds an intended send time at the back. */
  push(v: number): void {
    this.#items.push(v);
  }
  /** Removes and returns the oldest; call only when `size > 0`. */
  shift(): number {
    const v = this.#items[this.#head++]!;
    if (this.#head > 4096 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return v;
  }
  /** Forgets every waiting request. */
  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}
