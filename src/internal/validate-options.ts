import { InvalidOptionError } from '../errors/index.js';

/** Checks that `value` is a finite number within [min, max], else throws HP_ERR_INVALID_OPTION. */
export function checkNumber(
  name: string,
  value: unknown,
  {
    min = -Infinity,
    max = Infinity,
    integer = false,
  }: { min?: number; max?: number; integer?: boolean } = {},
): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new InvalidOptionError(name, `expected a finite number, got ${describe(value)}`);
  }
  if (integer && !Number.isInteger(value)) {
    throw new InvalidOptionError(name, `expected an integer, got ${value}`);
  }
  if (value < min || value > max) {
    throw new InvalidOptionError(name, `expected a value in [${min}, ${max}], got ${value}`);
  }
  return value;
}

/** Checks that `value` is a non-empty string, else throws HP_ERR_INVALID_OPTION. */
export function checkString(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidOptionError(name, `expected a non-empty string, got ${describe(value)}`);
  }
  return value;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return typeof value;
}
