import { type CallFrameLike, displayPathCache, frameKey, frameName } from './frame-label.js';
import { ProtoWriter } from './proto-writer.js';

/** Field numbers of `perftools.profiles.Profile` (github.com/google/pprof proto/profile.proto). */
export const PROFILE_FIELD = {
  sampleType: 1,
  sample: 2,
  location: 4,
  function: 5,
  stringTable: 6,
  timeNanos: 9,
  durationNanos: 10,
  periodType: 11,
  period: 12,
} as const;

/**
 * The string, function and location tables of a pprof Profile, encoded as entries are added:
 * each table is a run of complete protobuf fields, so the final Profile is their
 * concatenation with the samples and a few scalars. One location per function (name, file
 * and start line), as {@link cpuProfileToPprof} makes them.
 * @internal
 */
export class PprofTables {
  /** `string_table` fields; the first is the empty string, as pprof requires. */
  readonly strings = new ProtoWriter(4096);
  /** `function` fields. */
  readonly functions = new ProtoWriter(4096);
  /** `location` fields. */
  readonly locations = new ProtoWriter(4096);
  #stringIds = new Map<string, number>();
  #locationIds = new Map<string, number>();
  readonly #pathOf = displayPathCache();
  #nextLocation = 1;

  constructor() {
    this.string('');
  }

  /** The index of `value` in the string table, adding it when new. */
  string(value: string): number {
    let id = this.#stringIds.get(value);
    if (id === undefined) {
      id = this.#stringIds.size;
      this.#stringIds.set(value, id);
      this.strings.string(PROFILE_FIELD.stringTable, value);
    }
    return id;
  }

  /** The location id of a V8 frame (0-based line), adding its function and location when new. */
  location(frame: CallFrameLike): number {
    const name = frameName(frame);
    const file = this.#pathOf(frame.url);
    const line = frame.lineNumber + 1;
    const key = frameKey(name, file, line);
    let id = this.#locationIds.get(key);
    if (id === undefined) {
      id = this.#nextLocation++;
      this.#locationIds.set(key, id);
      const nameId = this.string(name);
      // Function { id = 1, name = 2, system_name = 3, filename = 4, start_line = 5 }
      const fileId = this.string(file);
      const fn = new ProtoWriter(32).uint(1, id).uint(2, nameId).uint(3, nameId).uint(4, fileId);
      if (line > 0) fn.uint(5, line);
      this.functions.field(PROFILE_FIELD.function, fn.bytes());
      // Location { id = 1, line = 4 { function_id = 1, line = 2 } }
      const lineEntry = new ProtoWriter(16).uint(1, id);
      if (line > 0) lineEntry.uint(2, line);
      const location = new ProtoWriter(24).uint(1, id).field(4, lineEntry.bytes());
      this.locations.field(PROFILE_FIELD.location, location.bytes());
    }
    return id;
  }
}
