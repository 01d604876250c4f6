import type { FunctionTotal, ProfileTree } from './profile-tree.js';
import { functionKey, topFunctions } from './profile-tree.js';

/** One function's share before and after. */
export interface FunctionDelta {
  name: string;
  file: string;
  line: number;
  /** Self value in the baseline profile (microseconds or bytes). */
  selfBefore: number;
  selfAfter: number;
  totalBefore: number;
  totalAfter: number;
  /** `selfAfter - selfBefore`, after scaling the baseline (see {@link ProfileDiff.scale}). */
  selfDelta: number;
  /** `totalAfter - totalBefore`, after scaling the baseline. */
  totalDelta: number;
}

/** The comparison of two profiles of the same kind. */
export interface ProfileDiff {
  unit: ProfileTree['unit'];
  /** Sum of all values in the baseline and in the new profile. */
  totalBefore: number;
  totalAfter: number;
  /**
   * Factor applied to the baseline so two profiles of different lengths compare as shares:
   * `totalAfter / totalBefore` when `normalize` is on, else 1.
   */
  scale: number;
  /** Every function in either profile, largest absolute self change first. */
  functions: FunctionDelta[];
  /** Total change per function key, for a differential flame graph. */
  deltas: Map<string, number>;
}

/**
 * Compares a baseline profile with a new one, function by function.
 * @param normalize scale the baseline to the new profile's total, so a 10 s and a 30 s profile
 *   compare by share of time. @defaultValue true
 */
export function diffProfiles(
  before: ProfileTree,
  after: ProfileTree,
  normalize = true,
): ProfileDiff {
  const totalBefore = before.root.total;
  const totalAfter = after.root.total;
  const scale = normalize && totalBefore > 0 ? totalAfter / totalBefore : 1;
  const rows = new Map<string, FunctionDelta>();
  const row = (f: FunctionTotal): FunctionDelta => {
    const key = functionKey(f);
    let r = rows.get(key);
    if (r === undefined) {
      r = {
        name: f.name,
        file: f.file,
        line: f.line,
        selfBefore: 0,
        selfAfter: 0,
        totalBefore: 0,
        totalAfter: 0,
        selfDelta: 0,
        totalDelta: 0,
      };
      rows.set(key, r);
    }
    return r;
  };
  for (const f of topFunctions(before)) {
    const r = row(f);
    r.selfBefore = f.self;
    r.totalBefore = f.total;
  }
  for (const f of topFunctions(after)) {
    const r = row(f);
    r.selfAfter = f.self;
    r.totalAfter = f.total;
  }
  const deltas = new Map<string, number>();
  for (const [key, r] of rows) {
    r.selfDelta = r.selfAfter - r.selfBefore * scale;
    r.totalDelta = r.totalAfter - r.totalBefore * scale;
    deltas.set(key, r.totalDelta);
  }
  const functions = [...rows.values()].sort(
    (a, b) =>
      Math.abs(b.selfDelta) - Math.abs(a.selfDelta) ||
      Math.abs(b.totalDelta) - Math.abs(a.totalDelta),
  );
  return { unit: after.unit, totalBefore, totalAfter, scale, functions, deltas };
}

function formatValue(value: number, unit: ProfileTree['unit']): string {
  const sign = value < 0 ? '-' : '';
  const v = Math.abs(value);
  if (unit === 'bytes') {
    if (v >= 1048576) return `${sign}${(v / 1048576).toFixed(1)} MB`;
    if (v >= 1024) return `${sign}${(v / 1024).toFixed(1)} KB`;
    return `${sign}${v.toFixed(0)} B`;
  }
  if (v >= 1e6) return `${sign}${(v / 1e6).toFixed(2)} s`;
  return `${sign}${(v / 1000).toFixed(1)} ms`;
}

/** Formats the `top` largest changes of a diff as a fixed-width text table. */
export function formatDiffTable(diff: ProfileDiff, top = 20): string {
  const pct = (v: number, of: number): string => (of > 0 ? `${((100 * v) / of).toFixed(1)}%` : '-');
  const header = [
    'self before',
    'self after',
    'self delta',
    'total before',
    'total after',
    'total delta',
    'function',
  ];
  const lines = diff.functions
    .slice(0, top)
    .map((f) => [
      pct(f.selfBefore, diff.totalBefore),
      pct(f.selfAfter, diff.totalAfter),
      `${f.selfDelta >= 0 ? '+' : ''}${formatValue(f.selfDelta, diff.unit)}`,
      pct(f.totalBefore, diff.totalBefore),
      pct(f.totalAfter, diff.totalAfter),
      `${f.totalDelta >= 0 ? '+' : ''}${formatValue(f.totalDelta, diff.unit)}`,
      `${f.name}${f.file === '' ? '' : `  ${f.file}:${f.line}`}`,
    ]);
  const widths = header
    .slice(0, -1)
    .map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]): string =>
    cells.map((c, i) => (i < widths.length ? c.padStart(widths[i]!) : c)).join('  ');
  const summary =
    `before ${formatValue(diff.totalBefore, diff.unit)}, after ${formatValue(diff.totalAfter, diff.unit)}` +
    (diff.scale !== 1 ? ` (baseline scaled by ${diff.scale.toFixed(3)} to compare shares)` : '');
  return [summary, fmt(header), ...lines.map(fmt)].join('\n');
}
