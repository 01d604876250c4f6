const MAX_KEYS = 10_000;

/** The L2 operations a repair replays. Each resolves false when L2 failed again. */
export interface RepairOps {
  deleteKey(key: string): Promise<boolean>;
  deleteTag(tag: string): Promise<boolean>;
  clear(): Promise<boolean>;
}

/**
 * Remembers the writes, deletes, tag deletes and clears that could not reach L2 while Redis
 * was down, and replays them, as deletes, once it is back: L2 and the other instances must
 * not keep serving what this instance changed meanwhile. Past 10,000 keys it falls back to
 * clearing the namespace.
 */
export class L2Repair {
  readonly #keys = new Set<string>();
  readonly #tags = new Set<string>();
  #all = false;

  markKey(key: string): void {
    if (this.#keys.size >= MAX_KEYS) this.#all = true;
    else this.#keys.add(key);
  }

  markTag(tag: string): void {
    this.#tags.add(tag);
  }

  markAll(): void {
    this.#all = true;
  }

  /** Keys, tags (and a clear) waiting to be replayed. */
  get pending(): number {
    return this.#keys.size + this.#tags.size + (this.#all ? 1 : 0);
  }

  /** Replays everything remembered; what fails again stays remembered. */
  async replay(ops: RepairOps): Promise<void> {
    if (this.#all) {
      this.#all = false;
      this.#keys.clear();
      this.#tags.clear();
      if (!(await ops.clear())) this.#all = true;
      return;
    }
    for (const tag of [...this.#tags]) {
      this.#tags.delete(tag);
      if (!(await ops.deleteTag(tag))) this.#tags.add(tag);
    }
    for (const key of [...this.#keys]) {
      this.#keys.delete(key);
      if (!(await ops.deleteKey(key))) this.markKey(key);
    }
  }
}
