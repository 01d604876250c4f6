/**
 * A minimal line chart rendered to an inline SVG string: no script, no external resource, so
 * a report stays one self-contained file that opens anywhere.
 */

/** One line of a chart. */
export interface Series {
  name: string;
  color: string;
  points: [number, number][];
  isDashed?: boolean;
}

/** Chart layout and axes. */
export interface ChartOptions {
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  /** Tick positions and labels on the x axis; evenly spaced numbers when absent. */
  xTicks?: [number, string][];
  formatY?: (v: number) => string;
  width?: number;
  height?: number;
}

/** Escapes text for HTML and SVG. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function niceStep(span: number, count: number): number {
  const raw = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  const norm = raw / mag;
  return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
}

/** Renders the series as an SVG line chart. */
export function lineChart(series: readonly Series[], o: ChartOptions): string {
  const width = o.width ?? 760;
  const height = o.height ?? 300;
  const left = 70;
  const right = 40;
  const top = 34;
  const bottom = 46;
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const xMin = xs.length > 0 ? Math.min(...xs, ...(o.xTicks?.map((t) => t[0]) ?? [])) : 0;
  const xMax = xs.length > 0 ? Math.max(...xs, ...(o.xTicks?.map((t) => t[0]) ?? []), xMin + 1) : 1;
  const yStep = niceStep(Math.max(...ys, 0) || 1, 5);
  const yMax = Math.max(yStep, Math.ceil((Math.max(...ys, 0) * 1.05) / yStep) * yStep);
  const px = (x: number) => left + ((x - xMin) / (xMax - xMin)) * (width - left - right);
  const py = (y: number) => top + (1 - y / yMax) * (height - top - bottom);
  const fy = o.formatY ?? ((v: number) => String(Math.round(v * 100) / 100));
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="${escapeHtml(o.id)}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeHtml(o.title)}">`,
  );
  parts.push(`<title>${escapeHtml(o.title)}</title>`);
  parts.push(`<text x="${left}" y="20" class="chart-title">${escapeHtml(o.title)}</text>`);
  for (let y = 0; y <= yMax + 1e-9; y += yStep) {
    parts.push(
      `<line x1="${left}" x2="${width - right}" y1="${py(y).toFixed(1)}" y2="${py(y).toFixed(1)}" class="grid"/>`,
    );
    parts.push(
      `<text x="${left - 6}" y="${(py(y) + 4).toFixed(1)}" text-anchor="end" class="tick">${escapeHtml(fy(y))}</text>`,
    );
  }
  const ticks: [number, string][] =
    o.xTicks ??
    (() => {
      const step = niceStep(xMax - xMin, 8);
      const t: [number, string][] = [];
      for (let x = Math.ceil(xMin / step) * step; x <= xMax + 1e-9; x += step)
        t.push([x, String(Math.round(x * 100) / 100)]);
      return t;
    })();
  for (const [x, label] of ticks) {
    parts.push(
      `<line x1="${px(x).toFixed(1)}" x2="${px(x).toFixed(1)}" y1="${top}" y2="${height - bottom}" class="grid"/>`,
    );
    parts.push(
      `<text x="${px(x).toFixed(1)}" y="${height - bottom + 16}" text-anchor="middle" class="tick">${escapeHtml(label)}</text>`,
    );
  }
  parts.push(
    `<line x1="${left}" x2="${width - right}" y1="${height - bottom}" y2="${height - bottom}" class="axis"/>`,
  );
  parts.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${height - bottom}" class="axis"/>`);
  parts.push(
    `<text x="${(left + width - right) / 2}" y="${height - 8}" text-anchor="middle" class="label">${escapeHtml(o.xLabel)}</text>`,
  );
  parts.push(
    `<text transform="translate(14 ${(top + height - bottom) / 2}) rotate(-90)" text-anchor="middle" class="label">${escapeHtml(o.yLabel)}</text>`,
  );
  series.forEach((s, i) => {
    if (s.points.length > 0) {
      const d = s.points
        .map((p, k) => `${k === 0 ? 'M' : 'L'}${px(p[0]).toFixed(1)} ${py(p[1]).toFixed(1)}`)
        .join('');
      parts.push(
        `<path class="series" data-series="${escapeHtml(s.name)}" d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.isDashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      );
    }
    const lx = left + 10 + i * 150;
    parts.push(`<rect x="${lx}" y="${top + 4}" width="12" height="3" fill="${s.color}"/>`);
    parts.push(`<text x="${lx + 16}" y="${top + 10}" class="legend">${escapeHtml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}
