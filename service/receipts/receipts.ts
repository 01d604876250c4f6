import { generateKeyPairSync } from 'node:crypto';
import { PoolQueueFullError, WorkerPool } from 'hotpath/concurrency';
import type { MetricsRegistry } from 'hotpath/metrics';
import { ApiError } from '../errors.js';
import type { Payment } from '../payments/payment.js';
import { signReceipt, type Receipt, type ReceiptInput } from './receipt.js';

/** Options of {@link Receipts}. */
export interface ReceiptsOptions {
  /** `pool`: sign on a worker thread; `inline`: on the event loop. */
  mode: 'inline' | 'pool';
  /** An Ed25519 private key, PKCS#8 PEM; undefined -> a key pair generated at start. */
  privateKeyPem?: string | undefined;
  /** Worker threads for `pool`. @defaultValue 1 */
  threads?: number;
  /** Where the pool's metrics go (`payments_receipt_pool_*`: queue wait, run time, in flight, utilization). */
  registry?: MetricsRegistry;
}

/**
 * Signs receipts inline or on a {@link WorkerPool}, started on the first receipt so a service
 * that never serves one starts no thread.
 */
export class Receipts {
  readonly mode: 'inline' | 'pool';
  readonly #privateKeyPem: string;
  readonly #threads: number;
  readonly #registry: MetricsRegistry | undefined;
  #pool: WorkerPool<ReceiptInput, Receipt> | undefined;

  constructor(options: ReceiptsOptions) {
    this.mode = options.mode;
    this.#threads = options.threads ?? 1;
    this.#registry = options.registry;
    this.#privateKeyPem =
      options.privateKeyPem ??
      (generateKeyPairSync('ed25519').privateKey.export({
        type: 'pkcs8',
        format: 'pem',
      }) as string);
  }

  /**
   * The signed receipt of a final payment.
   * @throws ApiError OVERLOADED when the pool's queue is full.
   */
  async sign(
    payment: Payment,
    history: readonly Payment[],
    signal?: AbortSignal,
  ): Promise<Receipt> {
    const input: ReceiptInput = { payment, history, privateKeyPem: this.#privateKeyPem };
    if (this.mode === 'inline') return signReceipt(input);
    this.#pool ??= new WorkerPool<ReceiptInput, Receipt>({
      filename: new URL(`./receipt-task${extension()}`, import.meta.url),
      minThreads: this.#threads,
      maxThreads: this.#threads,
      maxQueue: 256 * this.#threads,
      metricsPrefix: 'payments_receipt_pool',
      ...(this.#registry === undefined ? {} : { registry: this.#registry }),
    });
    try {
      return await this.#pool.run(input, signal === undefined ? {} : { signal });
    } catch (error) {
      if (error instanceof PoolQueueFullError) {
        throw new ApiError('OVERLOADED', 'too many receipts being signed; retry later', {
          cause: error,
        });
      }
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.#pool?.close();
  }
}

/** `.ts` when running from the sources, `.js` when compiled. */
function extension(): string {
  return import.meta.url.endsWith('.ts') ? '.ts' : '.js';
}
