import { readFileSync } from 'node:fs';
import { findSourceMap, SourceMap } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { CallFrame, CpuProfile } from './cpu-profile.js';
import type { HeapProfile, HeapProfileNode } from './heap-profile.js';

/** A position in an original source file. Lines and columns are 0-based, like V8's. */
export interface OriginalPosition {
  url: string;
  lineNumber: number;
  columnNumber: number;
}

/**
 * Maps positions in compiled JavaScript to the TypeScript (or other) sources they came from.
 * It asks Node first (`module.findSourceMap`, filled when source maps are enabled, e.g. by
 * `--enable-source-maps` or a loader such as tsx) and otherwise reads the file's
 * `//# sourceMappingURL=` comment itself, so compiled `dist/` code maps without any flag.
 * Maps are cached per file; a file without a map is remembered as such.
 */
export class SourceMapResolver {
  #maps = new Map<string, SourceMap | null>();

  /** The original position of `url:line:column`, or undefined when no map covers it. */
  resolve(url: string, lineNumber: number, columnNumber: number): OriginalPosition | undefined {
    if (url === '' || lineNumber < 0) return undefined;
    const map = this.#mapFor(url);
    if (map === null) return undefined;
    const entry = map.findEntry(lineNumber, columnNumber) as {
      originalSource?: string;
      originalLine?: number;
      originalColumn?: number;
    };
    if (entry.originalSource === undefined || entry.originalLine === undefined) return undefined;
    return {
      url: absoluteSource(url, entry.originalSource),
      lineNumber: entry.originalLine,
      columnNumber: entry.originalColumn ?? 0,
    };
  }

  /** A copy of `frame` pointing at its original source, or `frame` itself. */
  mapFrame(frame: CallFrame): CallFrame {
    const original = this.resolve(frame.url, frame.lineNumber, frame.columnNumber);
    if (original === undefined) return frame;
    return { ...frame, ...original };
  }

  /** A copy of `profile` whose frames point at original sources where maps exist. */
  mapCpuProfile(profile: CpuProfile): CpuProfile {
    return {
      ...profile,
      nodes: profile.nodes.map((node) => {
        const { positionTicks: _ticks, ...rest } = node;
        return { ...rest, callFrame: this.mapFrame(node.callFrame) };
      }),
    };
  }

  /** A copy of `profile` whose frames point at original sources where maps exist. */
  mapHeapProfile(profile: HeapProfile): HeapProfile {
    const mapNode = (node: HeapProfileNode): HeapProfileNode => ({
      ...node,
      callFrame: this.mapFrame(node.callFrame),
      children: node.children.map(mapNode),
    });
    return { ...profile, head: mapNode(profile.head) };
  }

  #mapFor(url: string): SourceMap | null {
    let map = this.#maps.get(url);
    if (map === undefined) {
      map = load(url);
      this.#maps.set(url, map);
    }
    return map;
  }
}

function load(url: string): SourceMap | null {
  try {
    const known = findSourceMap(url) ?? findSourceMap(toPath(url));
    if (known !== undefined) return known;
  } catch {
    // findSourceMap throws on some non-file URLs (node:internal/...); fall through.
  }
  if (!url.startsWith('file:') && !url.startsWith('/')) return null;
  try {
    const path = toPath(url);
    const code = readFileSync(path, 'utf8');
    const match = /\/\/[#@] sourceMappingURL=(\S+)\s*$/.exec(code.slice(-4096));
    if (match === null) return null;
    const ref = match[1]!;
    let payload: string;
    if (ref.startsWith('data:')) {
      const comma = ref.indexOf(',');
      const meta = ref.slice(5, comma);
      const data = ref.slice(comma + 1);
      payload = meta.endsWith(';base64')
        ? Buffer.from(data, 'base64').toString('utf8')
        : decodeURIComponent(data);
    } else {
      payload = readFileSync(resolve(dirname(path), decodeURIComponent(ref)), 'utf8');
    }
    const parsed = JSON.parse(payload) as { sourceRoot?: string; sources: string[] };
    // Resolve sources against the map's own location so findEntry answers absolute URLs.
    const mapPath = ref.startsWith('data:') ? path : resolve(dirname(path), ref);
    const base = pathToFileURL(mapPath).href;
    parsed.sources = parsed.sources.map((s) => new URL((parsed.sourceRoot ?? '') + s, base).href);
    delete parsed.sourceRoot;
    return new SourceMap(parsed as ConstructorParameters<typeof SourceMap>[0]);
  } catch {
    return null;
  }
}

function toPath(url: string): string {
  return url.startsWith('file:') ? fileURLToPath(url) : url;
}

function absoluteSource(generatedUrl: string, source: string): string {
  if (/^[a-z]+:/i.test(source)) return source;
  const base = generatedUrl.startsWith('file:') ? generatedUrl : pathToFileURL(generatedUrl).href;
  return new URL(source, base).href;
}

/** Shortens a `file://` URL to a path relative to `root` (the working directory by default). */
export function displayPath(url: string, root = process.cwd()): string {
  if (!url.startsWith('file:')) return url;
  const path = fileURLToPath(url);
  return path.startsWith(root + '/') ? path.slice(root.length + 1) : path;
}
