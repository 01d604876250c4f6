/**
 * Parsing of durations and rates as people type them: `250ms`, `10s`, `1.5m`, `100us`.
 */
import { InvalidOptionError } from '../errors/index.js';

const TO_MS: Record<string, number> = {
  us: 0.001,
  µs: 0.001,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Parses a duration into milliseconds. A bare number is in `bareUnit` (seconds by default).
 * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` naming `option` on a bad value or
 * an unknown unit.
 */
export function parseDuration(option: string, text: string, bareUnit: 's' | 'ms' = 's'): number {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-zµ]*)\s*$/i.exec(text);
  if (m === null)
    throw new InvalidOptionError(
      option,
      `expected a duration such as 10s or 250ms, got ${JSON.stringify(text)}`,
    );
  const unit = m[2]!.toLowerCase() || bareUnit;
  const factor = TO_MS[unit];
  if (factor === undefined) {
    throw new InvalidOptionError(
      option,
      `unknown unit "${m[2]}" in ${JSON.stringify(text)} (use us, ms, s, m or h)`,
    );
  }
  return Number(m[1]) * factor;
}

/** Formats microseconds for people: `850 µs`, `12.3 ms`, `1.52 s`. */
export function formatMicros(us: number): string {
  if (!Number.isFinite(us)) return '-';
  if (us < 1000) return `${Math.round(us)} µs`;
  if (us < 10_000) return `${(us / 1000).toFixed(2)} ms`;
  if (us < 1_000_000) return `${(us / 1000).toFixed(1)} ms`;
  return `${(us / 1e6).toFixed(2)} s`;
}

/** Formats a byte count: `512 B`, `1.2 MB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
