// @ts-check
/* global window, document, EventSource, ResizeObserver */
/**
 * The live dashboard page: one uPlot chart per chart panel, one list per status panel, fed
 * by the Server-Sent Events stream at <base>/events (events: `panels`, `history`, then one
 * unnamed message per frame). Type-checked with dashboard/tsconfig.json (DOM lib).
 */

/**
 * @typedef {{ label: string, color: string }} Series
 * @typedef {{ id: string, title: string, kind: 'chart', unit: string, series: Series[] }} ChartDefinition
 * @typedef {{ id: string, title: string, kind: 'status' }} StatusDefinition
 * @typedef {{ id: string, title: string, kind: 'links', links: { label: string, href: string }[] }} LinksDefinition
 * @typedef {ChartDefinition | StatusDefinition | LinksDefinition} PanelDefinition
 * @typedef {{ label: string, ok: boolean, detail?: string }} StatusItem
 * @typedef {{ t: number, values: Record<string, number[] | StatusItem[]> }} Frame
 * @typedef {import('uplot')} UPlotInstance
 * @typedef {{ kind: 'chart', def: ChartDefinition, root: HTMLElement, latest: HTMLElement,
 *   data: number[][], plot: UPlotInstance }} ChartState
 * @typedef {{ kind: 'status', def: StatusDefinition, root: HTMLElement, list: HTMLElement }} StatusState
 * @typedef {{ kind: 'links', def: LinksDefinition, root: HTMLElement }} LinksState
 */

const MAX_POINTS = 300;
const CHART_HEIGHT = 180;
const base = document.body.dataset['base'] ?? '/dashboard';
const UPlot = /** @type {typeof import('uplot')} */ (/** @type {any} */ (window).uPlot);
const container = /** @type {HTMLElement} */ (document.getElementById('panels'));
const connection = /** @type {HTMLElement} */ (document.getElementById('connection'));
const updated = /** @type {HTMLElement} */ (document.getElementById('updated'));

/** @type {Map<string, ChartState | StatusState | LinksState>} */
const panels = new Map();
let frameCount = 0;

/**
 * @param {string} tag
 * @param {string} className
 * @param {string} [text]
 */
function element(tag, className, text) {
  const el = document.createElement(tag);
  el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

/** @param {HTMLElement} root */
function chartWidth(root) {
  return Math.max(200, root.clientWidth - 24);
}

/** @param {ChartDefinition} def @returns {ChartState} */
function createChart(def) {
  const root = element('section', 'panel');
  root.dataset['panel'] = def.id;
  root.append(element('h2', '', def.title));
  const latest = element('p', 'latest');
  root.append(latest);
  const target = element('div', 'chart');
  root.append(target);
  container.append(root);
  /** @type {number[][]} */
  const data = [[], ...def.series.map(() => [])];
  const plot = new UPlot(
    {
      width: chartWidth(root),
      height: CHART_HEIGHT,
      scales: { x: { time: true } },
      series: [
        {},
        ...def.series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          points: { show: false },
          value: (/** @type {unknown} */ _u, /** @type {number | null} */ v) =>
            v === null ? '–' : format(v),
        })),
      ],
      axes: [{}, { label: def.unit, size: 60 }],
      legend: { live: false },
    },
    /** @type {any} */ (data),
    target,
  );
  return { kind: 'chart', def, root, latest, data, plot };
}

/** @param {StatusDefinition} def @returns {StatusState} */
function createStatus(def) {
  const root = element('section', 'panel');
  root.dataset['panel'] = def.id;
  root.append(element('h2', '', def.title));
  const list = element('ul', 'status-list');
  root.append(list);
  container.append(root);
  return { kind: 'status', def, root, list };
}

/** @param {LinksDefinition} def @returns {LinksState} */
function createLinks(def) {
  const root = element('section', 'panel links');
  root.dataset['panel'] = def.id;
  root.append(element('h2', '', def.title));
  const row = element('p', 'link-row');
  for (const link of def.links) {
    const a = /** @type {HTMLAnchorElement} */ (element('a', 'button', link.label));
    a.href = link.href;
    a.target = '_blank';
    a.rel = 'noopener';
    row.append(a);
  }
  root.append(row);
  container.append(root);
  return { kind: 'links', def, root };
}

/** @param {number} v */
function format(v) {
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/** @param {PanelDefinition[]} defs */
function setPanels(defs) {
  const wanted = new Set(defs.map((d) => d.id));
  for (const [id, state] of panels) {
    if (!wanted.has(id)) {
      if (state.kind === 'chart') state.plot.destroy();
      state.root.remove();
      panels.delete(id);
    }
  }
  for (const def of defs) {
    if (panels.has(def.id)) continue;
    panels.set(
      def.id,
      def.kind === 'links'
        ? createLinks(def)
        : def.kind === 'status'
          ? createStatus(def)
          : createChart(def),
    );
  }
}

/** @param {Frame} frame @param {boolean} draw */
function push(frame, draw) {
  for (const [id, state] of panels) {
    const values = frame.values[id];
    if (values === undefined || state.kind === 'links') continue;
    if (state.kind === 'chart') {
      const numbers = /** @type {number[]} */ (values);
      state.data[0]?.push(frame.t / 1000);
      state.def.series.forEach((_s, i) => state.data[i + 1]?.push(numbers[i] ?? 0));
      if ((state.data[0]?.length ?? 0) > MAX_POINTS)
        for (const column of state.data) column.shift();
      if (draw) {
        state.plot.setData(/** @type {any} */ (state.data));
        const unit = state.def.unit;
        state.latest.textContent = state.def.series
          .map((s, i) => (s.label === unit ? '' : `${s.label} `) + format(numbers[i] ?? 0))
          .join(' · ')
          .concat(unit === '' ? '' : ` ${unit}`);
        state.root.dataset['latest'] = JSON.stringify(numbers);
        state.root.dataset['points'] = String(state.data[0]?.length ?? 0);
      }
    } else if (draw) {
      const items = /** @type {StatusItem[]} */ (values);
      state.list.replaceChildren(
        ...items.map((item) => {
          const li = element('li', item.ok ? 'ok' : 'bad');
          li.append(
            element('span', 'badge', item.ok ? 'OK' : 'BREACH'),
            element('span', 'label', item.label),
            element('span', 'detail', item.detail ?? ''),
          );
          return li;
        }),
      );
      state.root.dataset['latest'] = JSON.stringify(items);
    }
  }
  frameCount++;
  document.body.dataset['frames'] = String(frameCount);
  updated.textContent = `updated ${new Date(frame.t).toLocaleTimeString()}`;
}

const source = new EventSource(`${base}/events`);
source.addEventListener('open', () => {
  connection.textContent = 'live';
  connection.className = 'connection live';
});
source.addEventListener('error', () => {
  connection.textContent = 'reconnecting…';
  connection.className = 'connection down';
});
source.addEventListener('panels', (event) => {
  setPanels(JSON.parse(/** @type {MessageEvent<string>} */ (event).data));
});
source.addEventListener('history', (event) => {
  /** @type {Frame[]} */
  const history = JSON.parse(/** @type {MessageEvent<string>} */ (event).data);
  for (const column of [...panels.values()].flatMap((p) => (p.kind === 'chart' ? p.data : []))) {
    column.length = 0;
  }
  history.forEach((frame, i) => push(frame, i === history.length - 1));
});
source.addEventListener('message', (event) => push(JSON.parse(event.data), true));

new ResizeObserver(() => {
  for (const state of panels.values()) {
    if (state.kind === 'chart')
      state.plot.setSize({ width: chartWidth(state.root), height: CHART_HEIGHT });
  }
}).observe(container);
