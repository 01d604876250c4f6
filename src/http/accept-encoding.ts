/** A content coding the compression plugin can produce. */
export type Encoding = 'br' | 'gzip';

/**
 * Picks the coding to answer with from an `Accept-Encoding` header (RFC 9110 §12.5.3): the
 * highest q-value among `supported`, ties going to the earlier entry of `supported` (the
 * server's preference). `*` stands for every coding not named; `q=0` refuses. `undefined`
 * means identity (no header, nothing acceptable).
 * @example
 * ```ts
 * negotiateEncoding('gzip;q=0.8, br', ['br', 'gzip']); // 'br'
 * ```
 */
export function negotiateEncoding(
  header: string | undefined,
  supported: readonly Encoding[],
): Encoding | undefined {
  if (header === undefined || header === '') return undefined;
  let best: Encoding | undefined;
  let bestQ = 0;
  let bestRank = Infinity;
  let wildcard = -1;
  const named = new Map<string, number>();
  for (const part of header.split(',')) {
    const [rawName, ...params] = part.split(';');
    const name = rawName!.trim().toLowerCase();
    if (name === '') continue;
    let q = 1;
    for (const param of params) {
      const [key, value] = param.split('=');
      if (key?.trim().toLowerCase() === 'q') {
        const parsed = Number(value?.trim());
        q = Number.isFinite(parsed) ? Math.min(Math.max(parsed, 0), 1) : 0;
      }
    }
    if (name === '*') wildcard = q;
    else named.set(name, q);
  }
  for (let rank = 0; rank < supported.length; rank++) {
    const encoding = supported[rank]!;
    const q = named.get(encoding) ?? (wildcard >= 0 ? wildcard : 0);
    if (q > bestQ || (q === bestQ && q > 0 && rank < bestRank)) {
      best = encoding;
      bestQ = q;
      bestRank = rank;
    }
  }
  return bestQ > 0 ? best : undefined;
}
