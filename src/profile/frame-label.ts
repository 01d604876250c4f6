import { displayPath } from './source-maps.js';

/** The fields of a V8 call frame that profiles show. */
export interface CallFrameLike {
  functionName: string;
  url: string;
  /** 0-based, as V8 reports it. */
  lineNumber: number;
}

/** The name a frame is shown under: its function's, or `(anonymous)`. */
export function frameName(frame: CallFrameLike): string {
  return frame.functionName === '' ? '(anonymous)' : frame.functionName;
}

/** One string per shown frame: name, display file and 1-based line. */
export function frameKey(name: string, file: string, line: number): string {
  return `${name}\u0000${file}\u0000${line}`;
}

/** {@link displayPath}, computed once per URL. */
export function displayPathCache(): (url: string) => string {
  const paths = new Map<string, string>();
  return (url) => {
    let path = paths.get(url);
    if (path === undefined) paths.set(url, (path = displayPath(url)));
    return path;
  };
}
