import { fileURLToPath } from 'node:url';

// hotpath/db's folder (this file's parent's parent), so frames of every sub-folder count
const ownDir = fileURLToPath(new URL('..', import.meta.url));
// hotpath/db's own frames, tests beside the code excepted (they are the application there)
const isOwn = (frame: string): boolean =>
  frame.includes(ownDir) && !/\.test\.[cm]?[jt]s:/.test(frame);

/**
 * The first stack frame of `stack` that is application code: not hotpath/db itself, not a
 * dependency under node_modules, not Node's internals. Undefined when there is none.
 */
export function callSiteOf(stack: string | undefined): string | undefined {
  if (stack === undefined) return undefined;
  for (const line of stack.split('\n').slice(1)) {
    const frame = line.trim();
    if (!frame.startsWith('at ')) continue;
    if (
      isOwn(frame) ||
      frame.includes('node_modules') ||
      frame.includes('node:') ||
      frame.includes('(<anonymous>)')
    ) {
      continue;
    }
    return frame.slice(3);
  }
  return undefined;
}

/** Application frames of `stack` (see {@link callSiteOf}), at most `max`. */
export function appFrames(stack: string | undefined, max = 8): string[] {
  if (stack === undefined) return [];
  const out: string[] = [];
  for (const line of stack.split('\n').slice(1)) {
    const frame = line.trim();
    if (
      !frame.startsWith('at ') ||
      isOwn(frame) ||
      frame.includes('node:') ||
      frame.includes('(<anonymous>)')
    ) {
      continue;
    }
    out.push(frame.slice(3));
    if (out.length >= max) break;
  }
  return out;
}
