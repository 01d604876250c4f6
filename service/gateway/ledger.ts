/**
 * The simulator's ledger: every charge it ever created, with how many times each payment id
 * was *created* (1, or the gateway charged twice). With a file, each creation is appended as
 * one JSON line by a synchronous write before the charge is answered, and the file is read
 * back at start: a simulator killed with SIGKILL and started again knows every charge it
 * answered (the kernel keeps what write(2) took; there is no fsync, so a machine crash may
 * lose the last lines).
 *
 * File format (NDJSON), one line per creation, in creation order:
 *
 *   {"id":"…","amount":100,"currency":"EUR","status":"authorized","reference":"ch_…","created_at":"…"}
 *
 * A second line for the same id counts as a second creation.
 */
import { appendFileSync, existsSync, readFileSync, truncateSync } from 'node:fs';

/** A charge as the gateway answers it. */
export interface Charge {
  id: string;
  amount: number;
  currency: string;
  status: 'authorized' | 'declined';
  reference?: string;
  reason?: string;
}

/** A charge in the ledger: the first creation's data, when it was made and how many times. */
export interface LedgerCharge extends Charge {
  /** ISO 8601 time of the first creation. */
  created_at: string;
  /** Times this payment id was created; anything above 1 is a double charge. */
  creations: number;
}

/** Options of {@link ChargeLedger}. */
export interface ChargeLedgerOptions {
  /** NDJSON file the ledger is loaded from and appended to; created if missing. */
  file?: string;
  /**
   * Without a file only: charges kept in memory; the oldest are forgotten past this (counted
   * in {@link ChargeLedger.evicted}), after which the simulator would charge a forgotten id
   * again. A ledger with a file never forgets. Default 1,000,000.
   */
  maxCharges?: number;
}

export class ChargeLedger {
  readonly #charges = new Map<string, LedgerCharge>();
  readonly #file: string | undefined;
  readonly #maxCharges: number;
  #evicted = 0;

  /**
   * Opens the ledger, reading its file when there is one.
   * @throws Error when `maxCharges` is combined with `file`, or a line of the file (other than
   *   a torn last line, which is cut off) is not a charge.
   */
  constructor(options: ChargeLedgerOptions = {}) {
    if (options.file !== undefined && options.maxCharges !== undefined)
      throw new Error('maxCharges: a ledger with a file never forgets a charge; drop one option');
    const maxCharges = options.maxCharges ?? 1_000_000;
    if (!Number.isInteger(maxCharges) || maxCharges < 1)
      throw new Error(`maxCharges: expected a positive integer, got ${maxCharges}`);
    this.#maxCharges = options.file === undefined ? maxCharges : Infinity;
    this.#file = options.file;
    if (options.file !== undefined) {
      for (const charge of readLedgerFile(options.file, { repair: true })) this.#add(charge);
    }
  }

  /** The ledger file, if any. */
  get file(): string | undefined {
    return this.#file;
  }

  /** Charges in the ledger (distinct payment ids). */
  get size(): number {
    return this.#charges.size;
  }

  /** Charges forgotten past `maxCharges` (always 0 with a file): the ledger is then partial. */
  get evicted(): number {
    return this.#evicted;
  }

  get(id: string): LedgerCharge | undefined {
    return this.#charges.get(id);
  }

  /**
   * Records a new charge: appended to the file (synchronously) before it is kept in memory,
   * so a charge the caller goes on to answer is on disk. Call it only for an id {@link get}
   * did not find, with no `await` in between, so two requests never create one id twice.
   */
  create(charge: Charge, createdAt: Date): LedgerCharge {
    const line = { ...charge, created_at: createdAt.toISOString() };
    if (this.#file !== undefined) appendFileSync(this.#file, `${JSON.stringify(line)}\n`);
    return this.#add({ ...line, creations: 1 });
  }

  /** All charges, oldest first; charges created while iterating are included. */
  values(): IterableIterator<LedgerCharge> {
    return this.#charges.values();
  }

  #add(charge: LedgerCharge): LedgerCharge {
    const existing = this.#charges.get(charge.id);
    if (existing !== undefined) {
      existing.creations += charge.creations;
      return existing;
    }
    this.#charges.set(charge.id, charge);
    if (this.#charges.size > this.#maxCharges) {
      this.#charges.delete(this.#charges.keys().next().value as string);
      this.#evicted += 1;
    }
    return charge;
  }
}

/**
 * Reads a ledger file into one {@link LedgerCharge} per payment id (creations counted), in
 * order of first creation. A missing file is an empty ledger. A last line without its newline
 * was torn by a crash mid-write: it is skipped, and with `repair` cut off the file so the
 * next append starts on a line of its own.
 * @throws Error naming the file and line when a complete line is not a charge.
 */
export function readLedgerFile(
  file: string,
  options: { repair?: boolean } = {},
): IterableIterator<LedgerCharge> {
  const charges = new Map<string, LedgerCharge>();
  if (!existsSync(file)) return charges.values();
  const text = readFileSync(file, 'utf8');
  const end = text.lastIndexOf('\n') + 1;
  if (end < text.length && options.repair === true)
    truncateSync(file, Buffer.byteLength(text.slice(0, end)));
  let lineNo = 0;
  let start = 0;
  while (start < end) {
    const next = text.indexOf('\n', start);
    const line = text.slice(start, next);
    start = next + 1;
    lineNo += 1;
    if (line.trim() === '') continue;
    const charge = parseLedgerLine(line);
    if (charge === undefined)
      throw new Error(`${file}:${lineNo}: not a ledger charge: ${line.slice(0, 200)}`);
    const existing = charges.get(charge.id);
    if (existing === undefined) charges.set(charge.id, charge);
    else existing.creations += charge.creations;
  }
  return charges.values();
}

/**
 * Parses one ledger line, from the file (no `creations`: one creation) or from
 * `GET /v1/ledger`; `undefined` when it is not a charge.
 */
export function parseLedgerLine(line: string): LedgerCharge | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (
    typeof v.id !== 'string' ||
    typeof v.amount !== 'number' ||
    typeof v.currency !== 'string' ||
    (v.status !== 'authorized' && v.status !== 'declined') ||
    typeof v.created_at !== 'string' ||
    (v.reference !== undefined && typeof v.reference !== 'string') ||
    (v.reason !== undefined && typeof v.reason !== 'string') ||
    (v.creations !== undefined && (!Number.isInteger(v.creations) || (v.creations as number) < 1))
  )
    return undefined;
  return {
    id: v.id,
    amount: v.amount,
    currency: v.currency,
    status: v.status,
    ...(v.reference === undefined ? {} : { reference: v.reference as string }),
    ...(v.reason === undefined ? {} : { reason: v.reason as string }),
    created_at: v.created_at,
    creations: (v.creations as number | undefined) ?? 1,
  };
}
