/**
 * Reads the gateway simulator's ledger: streamed from `GET /v1/ledger` (NDJSON) or straight
 * from its ledger file, one charge at a time, so 100,000s of charges never sit in one string.
 */
import { createInterface } from 'node:readline';
import { request } from 'undici';
import { parseLedgerLine, readLedgerFile, type LedgerCharge } from '../gateway/ledger.js';

/** Where the ledger is read from: exactly one of the two. */
export type LedgerSource = { gatewayUrl: string } | { ledgerFile: string };

/** The charges, and whether the gateway still knows every charge it made. */
export interface LedgerRead {
  charges: AsyncIterable<LedgerCharge>;
  /** False when the gateway had forgotten charges (maxCharges without a ledger file). */
  complete: boolean;
}

/**
 * Opens the ledger.
 * @throws Error when the gateway does not answer 200 or a line is not a ledger charge (the
 *   error names the line).
 */
export async function readLedger(source: LedgerSource, signal?: AbortSignal): Promise<LedgerRead> {
  if ('ledgerFile' in source) {
    const charges = readLedgerFile(source.ledgerFile);
    return {
      charges: (async function* () {
        yield* charges;
      })(),
      complete: true,
    };
  }
  const url = new URL('/v1/ledger', source.gatewayUrl);
  const res = await request(url, { method: 'GET', ...(signal ? { signal } : {}) });
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw new Error(`GET ${url.href} answered ${res.statusCode}`);
  }
  const evicted = Number(res.headers['x-ledger-evicted'] ?? 0);
  const lines = createInterface({ input: res.body, crlfDelay: Infinity });
  return {
    charges: (async function* () {
      let lineNo = 0;
      for await (const line of lines) {
        lineNo += 1;
        if (line === '') continue;
        const charge = parseLedgerLine(line);
        if (charge === undefined)
          throw new Error(`${url.href} line ${lineNo}: not a ledger charge: ${line.slice(0, 200)}`);
        yield charge;
      }
    })(),
    complete: evicted === 0,
  };
}
