/** Every experiment `npm run experiments` knows, in the order it runs them. */
import type { Experiment } from './experiment.js';
import { breaker } from './techniques/breaker.js';
import { cache } from './techniques/cache.js';
import { compression } from './techniques/compression.js';
import { embedded } from './techniques/embedded.js';
import { nPlusOne } from './techniques/n-plus-one.js';
import { pagination } from './techniques/pagination.js';
import { poolSize } from './techniques/pool-size.js';
import { prepared } from './techniques/prepared.js';
import { protection } from './techniques/protection.js';
import { receipts } from './techniques/receipts.js';

export const experiments: readonly Experiment[] = [
  cache,
  nPlusOne,
  pagination,
  poolSize,
  prepared,
  compression,
  receipts,
  protection,
  breaker,
  embedded,
];
