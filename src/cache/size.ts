/**
 * An estimate of the bytes a value keeps alive on the heap, used to hold `l1.maxBytes` when no
 * `l1.sizeOf` is given. It counts string characters at two bytes, numbers at eight, buffers
 * at their length and a fixed overhead per object, array slot and property. It is an
 * estimate (V8 does not expose exact retained sizes cheaply), but it grows with the value,
 * which is what a byte bound needs.
 */
export function estimateSize(value: unknown): number {
  let total = 0;
  const seen = new Set<object>();
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    switch (typeof node) {
      case 'string':
        total += 16 + node.length * 2;
        break;
      case 'number':
      case 'boolean':
      case 'undefined':
        total += 8;
        break;
      case 'bigint':
        total += 16 + Math.ceil(node.toString(16).length / 2);
        break;
      case 'object': {
        if (node === null) {
          total += 8;
          break;
        }
        if (seen.has(node)) {
          total += 8;
          break;
        }
        seen.add(node);
        if (ArrayBuffer.isView(node)) {
          total += 64 + node.byteLength;
        } else if (node instanceof Date) {
          total += 32;
        } else if (Array.isArray(node)) {
          total += 32 + node.length * 8;
          for (const item of node) stack.push(item);
        } else if (node instanceof Map) {
          total += 64 + node.size * 24;
          for (const [k, v] of node) stack.push(k, v);
        } else if (node instanceof Set) {
          total += 64 + node.size * 16;
          for (const v of node) stack.push(v);
        } else {
          total += 32;
          for (const key in node) {
            total += 16 + key.length * 2;
            stack.push((node as Record<string, unknown>)[key]);
          }
        }
        break;
      }
      default:
        total += 16;
    }
  }
  return total;
}
