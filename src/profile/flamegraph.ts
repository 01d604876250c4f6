import type { ProfileTree, TreeNode } from './profile-tree.js';
import { functionKey } from './profile-tree.js';

/** Options of {@link renderFlameGraph}. */
export interface FlameGraphOptions {
  /** Page title. @defaultValue `CPU profile` or `Heap profile` by the tree's unit */
  title?: string;
  /**
   * Per-function change against a baseline (from {@link diffProfiles}), keyed by function: frames
   * are then coloured red where the function grew and blue where it shrank.
   */
  deltas?: ReadonlyMap<string, number>;
}

// Compact node encoding for the page: [name, file, line, self, total, children, delta].
type Packed = [string, string, number, number, number, Packed[], number];

function pack(node: TreeNode, deltas: ReadonlyMap<string, number> | undefined): Packed {
  return [
    node.name,
    node.file,
    node.line,
    Math.round(node.self),
    Math.round(node.total),
    node.children.map((c) => pack(c, deltas)),
    deltas === undefined ? 0 : Math.round(deltas.get(functionKey(node)) ?? 0),
  ];
}

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

/**
 * Renders a self-contained interactive flame graph page (one HTML file, no network access):
 * click a frame to zoom into it, search by name or file to highlight matches and see their
 * share, hover for self and total time, and a table of the top functions by self time.
 */
export function renderFlameGraph(tree: ProfileTree, options: FlameGraphOptions = {}): string {
  const title = options.title ?? (tree.unit === 'bytes' ? 'Heap profile' : 'CPU profile');
  const data = JSON.stringify({
    unit: tree.unit,
    diff: options.deltas !== undefined,
    root: pack(tree.root, options.deltas),
  }).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
  <h1>${escapeHtml(title)}</h1>
  <input id="search" type="search" placeholder="Search function or file (regex)" aria-label="search">
  <button id="reset" type="button">Reset zoom</button>
  <span id="matched"></span>
</header>
<div id="details">Click a frame to zoom, hover for details.</div>
<div id="chart" role="tree"></div>
<h2>Top functions by self ${tree.unit === 'bytes' ? 'bytes' : 'time'}</h2>
<table id="top"><thead><tr><th>function</th><th>location</th><th>self</th><th>self %</th><th>total</th><th>total %</th>${options.deltas === undefined ? '' : '<th>delta</th>'}</tr></thead><tbody></tbody></table>
<script type="application/json" id="profile-data">${data}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

const STYLE = `
body { font: 13px/1.4 system-ui, sans-serif; margin: 0; color: #222; background: #fff; }
header { display: flex; gap: 12px; align-items: center; padding: 8px 12px; border-bottom: 1px solid #ddd; }
h1 { font-size: 16px; margin: 0; }
h2 { font-size: 14px; margin: 16px 12px 4px; }
#search { width: 320px; padding: 3px 6px; }
#details { padding: 6px 12px; min-height: 18px; font-family: ui-monospace, monospace; white-space: pre; overflow: hidden; }
#chart { position: relative; margin: 0 12px; overflow: hidden; }
.frame { position: absolute; height: 17px; box-sizing: border-box; border: 1px solid #fff; border-width: 0 1px 1px 0;
  overflow: hidden; white-space: nowrap; text-overflow: ellipsis; font: 11px/16px ui-monospace, monospace;
  padding: 0 3px; cursor: pointer; color: #000; }
.frame.dim { opacity: 0.45; }
.frame.match { outline: 2px solid #d000d0; outline-offset: -2px; background: #f0f !important; }
table { border-collapse: collapse; margin: 0 12px 24px; font-family: ui-monospace, monospace; font-size: 12px; }
th, td { text-align: left; padding: 2px 10px 2px 0; border-bottom: 1px solid #eee; }
td.num, th.num { text-align: right; }
`;

// Plain browser JavaScript, kept dependency-free so the page works offline.
const SCRIPT = `
(function () {
  var data = JSON.parse(document.getElementById('profile-data').textContent);
  var ROW = 17;
  function unpack(p, parent) {
    var n = { name: p[0], file: p[1], line: p[2], self: p[3], total: p[4], delta: p[6], parent: parent, children: [] };
    for (var i = 0; i < p[5].length; i++) n.children.push(unpack(p[5][i], n));
    return n;
  }
  var root = unpack(data.root, null);
  var zoomed = root;
  var chart = document.getElementById('chart');
  var details = document.getElementById('details');
  var search = document.getElementById('search');
  var matched = document.getElementById('matched');
  function fmt(v) {
    if (data.unit === 'bytes') {
      if (v >= 1048576) return (v / 1048576).toFixed(1) + ' MB';
      if (v >= 1024) return (v / 1024).toFixed(1) + ' KB';
      return v + ' B';
    }
    if (v >= 1e6) return (v / 1e6).toFixed(2) + ' s';
    return (v / 1000).toFixed(1) + ' ms';
  }
  function pct(v) { return root.total > 0 ? (100 * v / root.total).toFixed(1) + '%' : '0%'; }
  function where(n) { return n.file ? n.file + ':' + n.line : ''; }
  function hash(s) { var h = 0; for (var i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0; return Math.abs(h); }
  function color(n) {
    if (data.diff) {
      if (n.delta === 0 || n.total === 0) return 'hsl(0, 0%, 85%)';
      var s = Math.min(1, Math.abs(n.delta) / n.total);
      return n.delta > 0 ? 'hsl(0, 85%, ' + (90 - 40 * s) + '%)' : 'hsl(220, 85%, ' + (90 - 40 * s) + '%)';
    }
    if (n.file === '' && n.name.charAt(0) === '(') return 'hsl(0, 0%, 80%)';
    if (n.file.indexOf('node:') === 0) return 'hsl(200, 30%, ' + (70 + hash(n.name) % 15) + '%)';
    if (n.file.indexOf('node_modules') >= 0) return 'hsl(' + (40 + hash(n.name) % 20) + ', 70%, 70%)';
    return 'hsl(' + (hash(n.name) % 40) + ', 80%, ' + (60 + hash(n.file) % 15) + '%)';
  }
  function describe(n) {
    var text = n.name + (where(n) ? '  ' + where(n) : '') + '\\n' +
      'total ' + fmt(n.total) + ' (' + pct(n.total) + ')   self ' + fmt(n.self) + ' (' + pct(n.self) + ')';
    if (data.diff) text += '   delta ' + (n.delta > 0 ? '+' : '') + fmt(n.delta);
    return text;
  }
  var pattern = null;
  function isMatch(n) { return pattern !== null && (pattern.test(n.name) || pattern.test(n.file)); }
  function render() {
    chart.textContent = '';
    var width = chart.clientWidth || 1000;
    var depth = 0;
    var ancestors = [];
    for (var a = zoomed.parent; a !== null; a = a.parent) ancestors.unshift(a);
    ancestors.forEach(function (n, i) { draw(n, 0, 1, i, true); });
    function draw(n, x, w, row, dim) {
      var div = document.createElement('div');
      div.className = 'frame' + (dim ? ' dim' : '') + (isMatch(n) ? ' match' : '');
      div.style.left = (x * 100) + '%';
      div.style.width = (w * 100) + '%';
      div.style.top = (row * ROW) + 'px';
      div.style.background = color(n);
      div.textContent = n.name;
      div.title = describe(n);
      div.setAttribute('data-name', n.name);
      div.setAttribute('role', 'treeitem');
      div.addEventListener('click', function (e) { e.stopPropagation(); zoom(n); });
      div.addEventListener('mouseenter', function () { details.textContent = describe(n); });
      chart.appendChild(div);
      if (row + 1 > depth) depth = row + 1;
    }
    function layout(n, x, w, row) {
      draw(n, x, w, row, false);
      var cx = x;
      for (var i = 0; i < n.children.length; i++) {
        var c = n.children[i];
        var cw = n.total > 0 ? w * c.total / n.total : 0;
        if (cw * width >= 0.5) layout(c, cx, cw, row + 1);
        cx += cw;
      }
    }
    function matchIn(n) {
      if (isMatch(n)) return n.total;
      var s = 0;
      for (var i = 0; i < n.children.length; i++) s += matchIn(n.children[i]);
      return s;
    }
    layout(zoomed, 0, 1, ancestors.length);
    chart.style.height = (depth * ROW + 4) + 'px';
    matched.textContent = pattern === null ? '' : 'matched: ' + pct(matchIn(zoomed));
    document.body.setAttribute('data-zoomed', zoomed.name);
  }
  function zoom(n) { zoomed = n; details.textContent = describe(n); render(); }
  document.getElementById('reset').addEventListener('click', function () { zoom(root); });
  search.addEventListener('input', function () {
    var q = search.value.trim();
    try { pattern = q === '' ? null : new RegExp(q, 'i'); }
    catch (e) { pattern = new RegExp(q.replace(/[.*+?^$()|[\\]\\\\{}]/g, '\\\\$&'), 'i'); }
    render();
  });
  window.addEventListener('resize', render);
  // Top functions, with total counted once per stack so recursion does not inflate it.
  var totals = {};
  var onStack = {};
  (function walk(n) {
    var key = n.name + '\\u0000' + n.file + '\\u0000' + n.line;
    var e = totals[key] || (totals[key] = { n: n, self: 0, total: 0, delta: n.delta });
    e.self += n.self;
    if (!onStack[key]) e.total += n.total;
    onStack[key] = (onStack[key] || 0) + 1;
    for (var i = 0; i < n.children.length; i++) walk(n.children[i]);
    onStack[key] -= 1;
  })(root);
  var rows = Object.keys(totals).map(function (k) { return totals[k]; })
    .filter(function (e) { return e.n !== root; })
    .sort(function (a, b) { return b.self - a.self; }).slice(0, 40);
  var tbody = document.querySelector('#top tbody');
  rows.forEach(function (e) {
    var tr = document.createElement('tr');
    var cells = [e.n.name, where(e.n), fmt(e.self), pct(e.self), fmt(e.total), pct(e.total)];
    if (data.diff) cells.push((e.delta > 0 ? '+' : '') + fmt(e.delta));
    cells.forEach(function (c, i) {
      var td = document.createElement('td');
      if (i >= 2) td.className = 'num';
      td.textContent = c;
      tr.appendChild(td);
    });
    tbody.appendChild(tr);
  });
  render();
})();
`;
