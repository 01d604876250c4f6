/**
 * `--write-baseline` onto an existing baseline after a run of some experiments: their entries
 * are replaced and their source recorded, every other entry is kept as it was.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mergeBaseline, type BaselineFile } from '../../experiments/lib/baseline.js';

const pair = (ratio: number) => ({
  metric: 'p99Ms' as const,
  direction: 'lower' as const,
  ratio,
  low: ratio * 0.9,
  high: ratio * 1.1,
  rounds: 5,
});

const previous: BaselineFile = {
  v: 1,
  command: 'npm run experiments -- --write-baseline experiments/baseline.json',
  machine: 'm1',
  date: '2026-01-01T00:00:00.000Z',
  experiments: {
    cache: { 'cache on': pair(1.2) },
    protection: { protected: { ...pair(1), metric: 'goodput', direction: 'higher' } },
    embedded: { 'PostgreSQL + Redis': pair(0.75) },
  },
};

describe('mergeBaseline', () => {
  test('replaces the experiments of the run, records their source and keeps the others', () => {
    const update: BaselineFile = {
      v: 1,
      command:
        'npm run experiments -- protection embedded --write-baseline experiments/baseline.json',
      machine: 'm2',
      date: '2026-02-02T00:00:00.000Z',
      // embedded ran but gated nothing this time: its old entry goes too.
      experiments: { protection: { protected: { ...pair(5), metric: 'admittedP99Ms' } } },
    };
    const merged = mergeBaseline(previous, update, ['protection', 'embedded']);
    assert.deepEqual(merged.experiments, {
      cache: { 'cache on': pair(1.2) },
      protection: { protected: { ...pair(5), metric: 'admittedP99Ms' } },
    });
    const source = { command: update.command, machine: 'm2', date: update.date };
    assert.deepEqual(merged.sources, { protection: source, embedded: source });
    assert.deepEqual(
      [merged.command, merged.machine, merged.date],
      [previous.command, previous.machine, previous.date],
    );
  });
});
