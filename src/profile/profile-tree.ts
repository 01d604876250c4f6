import type { CpuProfile, CpuProfileNode } from './cpu-profile.js';
import { selfTimes } from './cpu-profile.js';
import type { HeapProfile, HeapProfileNode } from './heap-profile.js';
import { displayPathCache, frameKey, frameName } from './frame-label.js';

/** A frame of a {@link ProfileTree}: one function at one place in the call tree. */
export interface TreeNode {
  /** Function name; `(anonymous)` when V8 has none. */
  name: string;
  /** Source file, relative to the working directory when inside it. */
  file: string;
  /** 1-based line of the function (0 when unknown). */
  line: number;
  /** Value spent in this frame itself (not its callees). */
  self: number;
  /** Value of this frame and everything it called. */
  total: number;
  children: TreeNode[];
}

/**
 * A call tree with one value per frame, the common form CPU (microseconds) and heap (bytes)
 * profiles are drawn and compared in. Frames with the same function under the same parent are
 * merged.
 */
export interface ProfileTree {
  /** `microseconds` for CPU time, `bytes` for heap. */
  unit: 'microseconds' | 'bytes';
  root: TreeNode;
}

/** A function's share of a profile, summed over every place it appears. */
export interface FunctionTotal {
  name: string;
  file: string;
  line: number;
  self: number;
  /** Counted once per stack, so recursion does not inflate it. */
  total: number;
}

/** Options of {@link treeFromCpuProfile}. */
export interface CpuTreeOptions {
  /** Keep the `(idle)` frame (time the thread waited for work). @defaultValue false */
  keepIdle?: boolean;
}

const IDLE = '(idle)';

function leaf(name: string, file: string, line: number): TreeNode {
  return { name, file, line, self: 0, total: 0, children: [] };
}

/**
 * Finds or adds the child frame of a parent. Children are indexed by key, not scanned: wide
 * trees (hundreds of callees per frame, thousands of nodes) are built in linear time.
 */
function childFinder(): (parent: TreeNode, name: string, file: string, line: number) => TreeNode {
  const index = new Map<TreeNode, Map<string, TreeNode>>();
  return (parent, name, file, line) => {
    let children = index.get(parent);
    if (children === undefined) index.set(parent, (children = new Map()));
    const key = frameKey(name, file, line);
    let child = children.get(key);
    if (child === undefined) {
      child = leaf(name, file, line);
      children.set(key, child);
      parent.children.push(child);
    }
    return child;
  };
}

function sumTotals(node: TreeNode): number {
  let total = node.self;
  for (const child of node.children) total += sumTotals(child);
  node.total = total;
  node.children.sort((a, b) => b.total - a.total);
  return total;
}

function prune(node: TreeNode): void {
  node.children = node.children.filter((c) => c.total > 0);
  for (const child of node.children) prune(child);
}

/** Builds the CPU time tree (microseconds) of a V8 CPU profile. */
export function treeFromCpuProfile(profile: CpuProfile, options: CpuTreeOptions = {}): ProfileTree {
  const byId = new Map<number, CpuProfileNode>();
  for (const node of profile.nodes) byId.set(node.id, node);
  const self = selfTimes(profile);
  const rootNode = profile.nodes[0];
  const root = leaf('(root)', '', 0);
  const childOf = childFinder();
  const pathOf = displayPathCache();
  const walk = (node: CpuProfileNode, into: TreeNode): void => {
    for (const childId of node.children ?? []) {
      const child = byId.get(childId);
      if (child === undefined) continue;
      const frame = child.callFrame;
      const name = frameName(frame);
      if (name === IDLE && options.keepIdle !== true) continue;
      const target = childOf(into, name, pathOf(frame.url), frame.lineNumber + 1);
      target.self += self.get(child.id) ?? 0;
      walk(child, target);
    }
  };
  if (rootNode !== undefined) walk(rootNode, root);
  sumTotals(root);
  prune(root);
  return { unit: 'microseconds', root };
}

/** Builds the allocation tree (bytes) of a V8 sampling heap profile. */
export function treeFromHeapProfile(profile: HeapProfile): ProfileTree {
  const root = leaf('(root)', '', 0);
  const childOf = childFinder();
  const pathOf = displayPathCache();
  const walk = (node: HeapProfileNode, into: TreeNode): void => {
    for (const child of node.children) {
      const frame = child.callFrame;
      const name = frameName(frame);
      const target = childOf(into, name, pathOf(frame.url), frame.lineNumber + 1);
      target.self += child.selfSize;
      walk(child, target);
    }
  };
  walk(profile.head, root);
  sumTotals(root);
  prune(root);
  return { unit: 'bytes', root };
}

/**
 * Builds a tree from stacks given root-first with a value each (how pprof samples are read).
 * @internal
 */
export function treeFromStacks(
  unit: ProfileTree['unit'],
  stacks: Iterable<{ frames: { name: string; file: string; line: number }[]; value: number }>,
): ProfileTree {
  const root = leaf('(root)', '', 0);
  const childOf = childFinder();
  for (const { frames, value } of stacks) {
    let node = root;
    for (const frame of frames) node = childOf(node, frame.name, frame.file, frame.line);
    node.self += value;
  }
  sumTotals(root);
  prune(root);
  return { unit, root };
}

/** Identifies a function across trees and profiles. */
export function functionKey(f: { name: string; file: string; line: number }): string {
  return `${f.name}\u0000${f.file}\u0000${f.line}`;
}

/** Sums self and total per function over the whole tree, largest self first. */
export function topFunctions(tree: ProfileTree): FunctionTotal[] {
  const totals = new Map<string, FunctionTotal>();
  const onStack = new Map<string, number>();
  const walk = (node: TreeNode): void => {
    const key = functionKey(node);
    let entry = totals.get(key);
    if (entry === undefined) {
      entry = { name: node.name, file: node.file, line: node.line, self: 0, total: 0 };
      totals.set(key, entry);
    }
    entry.self += node.self;
    const depth = onStack.get(key) ?? 0;
    if (depth === 0) entry.total += node.total;
    onStack.set(key, depth + 1);
    for (const child of node.children) walk(child);
    onStack.set(key, depth);
  };
  for (const child of tree.root.children) walk(child);
  return [...totals.values()].sort((a, b) => b.self - a.self || b.total - a.total);
}
