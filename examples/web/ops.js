// hotelmux operations view: GET /admin/status (admin token) + GET /metrics,
// refreshed every few seconds. Rates come from the difference between two
// scrapes of the Prometheus counters and histograms.
'use strict';

const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem('hm.admin') || '';
let timer = null, paused = false, prev = null;

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) {
    if (k === 'class') el.className = v; else el.setAttribute(k, v);
  }
  for (const k of kids.flat()) if (k !== undefined && k !== null) el.append(k instanceof Node ? k : String(k));
  return el;
}
const fmt = (n, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '—');
const pct = (n) => (Number.isFinite(n) ? (n * 100).toFixed(1) + ' %' : '—');
const ms = (s) => (Number.isFinite(s) ? (s * 1000 < 10 ? (s * 1000).toFixed(1) : Math.round(s * 1000)) + ' ms' : '—');

// Prometheus text -> [{ name, labels: {..}, value }]
function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    if (m[3]) for (const p of m[3].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[p[1]] = p[2].replace(/\\(.)/g, '$1');
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

// Per supplier: calls by outcome, latency histogram buckets.
function supplierStats(samples) {
  const s = {};
  const get = (n) => (s[n] ||= { calls: {}, buckets: {}, count: 0 });
  for (const x of samples) {
    const sup = x.labels.supplier;
    if (!sup) continue;
    if (x.name === 'hotelmux_supplier_requests_total') {   // summed over operations
      const calls = get(sup).calls, k = x.labels.outcome || '?';
      calls[k] = (calls[k] || 0) + x.value;
    }
    else if (x.name === 'hotelmux_supplier_latency_seconds_bucket') get(sup).buckets[x.labels.le] = x.value;
    else if (x.name === 'hotelmux_supplier_latency_seconds_count') get(sup).count = x.value;
  }
  return s;
}

function quantile(buckets, q) {
  const les = Object.keys(buckets).map((k) => [k === '+Inf' ? Infinity : Number(k), buckets[k]]).sort((a, b) => a[0] - b[0]);
  const total = les.length ? les[les.length - 1][1] : 0;
  if (!total) return NaN;
  const want = q * total;
  let lo = 0, loCount = 0;
  for (const [le, c] of les) {
    if (c >= want) {
      if (le === Infinity) return lo;
      return lo + (le - lo) * ((want - loCount) / Math.max(1e-9, c - loCount));
    }
    lo = le; loCount = c;
  }
  return lo;
}
const diff = (a, b) => { const o = {}; for (const k of Object.keys(a)) o[k] = a[k] - ((b && b[k]) || 0); return o; };
const sum = (o) => Object.values(o).reduce((x, y) => x + y, 0);

async function fetchJSON(path) {
  const r = await fetch(path, { headers: { Authorization: 'Bearer ' + token } });
  const j = await r.json().catch(() => null);
  if (!r.ok || !j || j.code !== 0) throw new Error((j && j.msg) || `HTTP ${r.status}`);
  return j.data;
}

async function refresh() {
  if (!token) return;
  try {
    const [status, mtext] = await Promise.all([fetchJSON('/admin/status'),
      fetch('/metrics').then((r) => { if (!r.ok) throw new Error('/metrics: HTTP ' + r.status); return r.text(); })]);
    const now = performance.now();
    const samples = parseMetrics(mtext);
    render(status, samples, now);
    $('notice').textContent = '';
    $('notice').className = 'notice';
    $('updated').textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    $('notice').textContent = `Cannot load the status: ${e.message}`;
    $('notice').className = 'notice bad';
  }
}

function render(st, samples, now) {
  const g = st.generation || {}, rl = st.reloads || {};
  $('engine').replaceChildren(
    h('div', { 'data-test': 'generation' }, 'Generation', h('b', {}, String(g.number ?? '—')), `loaded ${fmt(g.ageSeconds, 0)} s ago`),
    h('div', {}, 'Reloads', h('b', {}, `${rl.success ?? 0} ok / ${rl.failure ?? 0} failed`)),
    h('div', { 'data-test': 'last-error' }, 'Last reload error', h('b', {}, rl.lastError ? 'yes' : 'none'), rl.lastError || ''),
    h('div', {}, 'Workers · connections', h('b', {}, `${st.workers} · ${st.connections}`)),
    h('div', {}, 'Uptime', h('b', {}, `${fmt(st.uptimeSeconds / 60, 1)} min`), st.draining ? 'draining' : ''),
    h('div', {}, 'Version', h('b', {}, st.version || '—')));

  const cur = supplierStats(samples);
  const dt = prev ? (now - prev.at) / 1000 : NaN;
  const names = [...new Set([...Object.keys(st.suppliers || {}), ...Object.keys(cur)])].sort();
  const rows = names.map((name) => {
    const guard = (st.suppliers || {})[name] || {};
    const c = cur[name] || { calls: {}, buckets: {} };
    const p = prev && prev.sup[name];
    const calls = p ? diff(c.calls, p.calls) : c.calls;
    const buckets = p ? diff(c.buckets, p.buckets) : c.buckets;
    const n = sum(calls);
    const errors = n - (calls.ok || 0);
    const rps = p ? n / dt : NaN;
    const circuit = guard.circuit || 'unknown';
    return h('tr', { 'data-supplier': name },
      h('th', { scope: 'row' }, name),
      h('td', { class: 'circuit-' + circuit }, circuit.replace('_', ' ')),
      h('td', { class: 'num' }, p ? fmt(rps, 2) : '…'),
      h('td', { class: 'num' }, ms(quantile(buckets, 0.95))),
      h('td', { class: 'num' }, n ? pct(errors / n) : '—'),
      h('td', { class: 'num' }, String(sum(c.calls))),
      h('td', { class: 'num' }, String(guard.opens ?? 0)),
      h('td', { class: 'num' }, guard.throttledForSeconds ? fmt(guard.throttledForSeconds, 1) + ' s' : '—'));
  });
  $('sup-rows').replaceChildren(...(rows.length ? rows : [h('tr', {}, h('td', { colspan: 8 }, 'No supplier calls yet.'))]));

  const levels = [];
  for (const [lvl, c] of Object.entries(st.cache || {})) {
    if (!c || typeof c !== 'object' || !('hits' in c)) continue;
    levels.push([lvl, c.hits, c.misses, c.entries, c.bytes]);
  }
  // Levels only the metrics know about (e.g. hotelmux_cache_requests_total{level,result}).
  const extra = {};
  for (const x of samples) {
    const lvl = x.labels.level, res = x.labels.result;
    if (!/cache/.test(x.name) || !lvl || !res || levels.some((l) => l[0] === lvl)) continue;
    const e = (extra[lvl] ||= { hit: 0, miss: 0 });
    if (/^hit/.test(res)) e.hit += x.value; else if (/^miss/.test(res)) e.miss += x.value;
  }
  for (const [lvl, e] of Object.entries(extra)) levels.push([lvl, e.hit, e.miss, undefined, undefined]);
  $('cache-rows').replaceChildren(...levels.map(([lvl, hits, misses, entries, bytes]) =>
    h('tr', { 'data-level': lvl }, h('th', { scope: 'row' }, lvl.toUpperCase()),
      h('td', { class: 'num' }, hits + misses ? pct(hits / (hits + misses)) : '—'),
      h('td', { class: 'num' }, String(hits)), h('td', { class: 'num' }, String(misses)),
      h('td', { class: 'num' }, entries ?? '—'), h('td', { class: 'num' }, bytes ?? '—'))));
  prev = { at: now, sup: cur };
}

function schedule() {
  clearInterval(timer);
  const s = Math.max(1, Math.min(300, Number($('interval').value) || 5));
  if (!paused && token) timer = setInterval(refresh, s * 1000);
}

$('admin-token').value = token;
$('token-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  token = $('admin-token').value;
  sessionStorage.setItem('hm.admin', token);
  prev = null;
  refresh();
  schedule();
});
$('pause').addEventListener('click', () => {
  paused = !paused;
  $('pause').setAttribute('aria-pressed', String(paused));
  $('pause').textContent = paused ? 'Resume' : 'Pause';
  schedule();
});
if (token) { refresh(); schedule(); }
