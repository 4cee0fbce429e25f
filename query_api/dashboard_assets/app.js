// The logstream dashboard: every view is its URL's query string (shareable, reloadable, back and
// forward work); the numbers come from the read API of the same origin; charts are Apache ECharts.
'use strict';
(() => {
  const TYPES = ['CLICK', 'VIEW', 'NAVIGATE'];
  // Okabe-Ito, colour-blind safe; the blue is lighter on dark backgrounds.
  const LIGHT = { CLICK: '#0072B2', VIEW: '#E69F00', NAVIGATE: '#009E73' };
  const DARK = { CLICK: '#56B4E9', VIEW: '#E69F00', NAVIGATE: '#009E73' };
  const PRESETS = { '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3, '30d': 30 * 86400e3, '90d': 90 * 86400e3 };
  const PROPERTY_FILTERS = { pageTo: 'NAVIGATE', pageFrom: 'NAVIGATE', viewedId: 'VIEW' };
  const KEY_STORE = 'logstream.readKey';
  const LIVE_ROWS = 200;
  const locale = navigator.language;
  const numbers = new Intl.NumberFormat(locale);
  const percent = new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 1 });
  const change = new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 1, signDisplay: 'exceptZero' });
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  const darkScheme = matchMedia('(prefers-color-scheme: dark)');
  const $ = (id) => document.getElementById(id);
  // ECharts tooltips are HTML: what users sent (page names, ids) is escaped before it goes in one.
  const esc = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'class') node.className = v; else if (k.includes('-')) node.setAttribute(k, v);
      else if (k === 'text') node.textContent = v; else node[k] = v;
    }
    node.append(...children);
    return node;
  };

  // ---- time zones: wall times and offsets through Intl, DST-correct ----
  const partsFormats = new Map();
  function offsetMs(ms, tz) {
    if (!partsFormats.has(tz)) {
      partsFormats.set(tz, new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric',
        month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }));
    }
    const p = Object.fromEntries(partsFormats.get(tz).formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
    const wall = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
    return wall - Math.floor(ms / 1000) * 1000;
  }
  function offsetText(ms, tz) {
    const minutes = Math.round(offsetMs(ms, tz) / 60000);
    const sign = minutes < 0 ? '-' : '+';
    const a = Math.abs(minutes);
    return `${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
  }
  function isoInZone(ms, tz) { // 2019-11-03T01:00:00-07:00
    const local = new Date(ms + offsetMs(ms, tz)).toISOString().slice(0, 19);
    return local + offsetText(ms, tz);
  }
  function wallToMs(wall, tz) { // 'YYYY-MM-DDTHH:MM' in tz -> instant (the earlier of two, in a DST fold)
    const guess = Date.parse(wall + ':00Z');
    let ms = guess - offsetMs(guess, tz);
    ms = guess - offsetMs(ms, tz);
    return ms;
  }
  const formats = new Map();
  function formatTime(ms, tz, style = 'full') {
    const key = `${tz}|${style}`;
    if (!formats.has(key)) {
      const options = { timeZone: tz, hour: '2-digit', minute: '2-digit' };
      if (style !== 'clock') Object.assign(options, { month: 'short', day: 'numeric' });
      if (style === 'full') Object.assign(options, { year: 'numeric', second: '2-digit', timeZoneName: 'shortOffset' });
      if (style === 'day') { delete options.hour; delete options.minute; }
      formats.set(key, new Intl.DateTimeFormat(locale, options));
    }
    return formats.get(key).format(new Date(ms));
  }
  // A time the API rendered in the chosen zone ('2019-11-03T01:00:00-07:00'): shown as it says (its wall
  // time and offset), so that the labels are the server's buckets whatever the browser's zone data.
  function apiTime(text, style = 'full') {
    const wall = Date.parse(`${text.slice(0, 19)}Z`);
    const offset = text.length > 19 ? text.slice(19).replace('Z', '+00:00') : '';
    return style === 'full' ? `${formatTime(wall, 'UTC', 'short')} UTC${offset}` : formatTime(wall, 'UTC', style);
  }
  function validZone(tz) {
    try { new Intl.DateTimeFormat('en', { timeZone: tz }); return true; } catch { return false; }
  }

  // ---- the view is the URL ----
  function readState() {
    const q = new URLSearchParams(location.search);
    const tz = q.get('tz') && validZone(q.get('tz')) ? q.get('tz') : browserZone;
    let range = q.get('range') || '24h';
    if (range === 'custom' ? !(Date.parse(q.get('from')) < Date.parse(q.get('to'))) : !PRESETS[range]) range = '24h';
    const types = (q.get('type') || '').split(',').filter((t) => TYPES.includes(t));
    const state = {
      range, from: q.get('from') || '', to: q.get('to') || '', tz, interval: q.get('interval') || 'auto',
      types: types.length === TYPES.length ? [] : types, userId: q.get('userId') || '',
      sessionId: q.get('sessionId') || '', sessionsUser: q.get('sessionsUser') || '', session: q.get('session') || '',
      funnel: q.get('funnel') || '', window: q.get('window') || '1d', by: q.get('by') === 'session' ? 'session' : 'user',
      retention: ['day', 'week', 'month'].includes(q.get('retention')) ? q.get('retention') : 'week',
    };
    for (const name of Object.keys(PROPERTY_FILTERS)) state[name] = q.get(name) || '';
    return state;
  }
  function writeState(next) {
    const q = new URLSearchParams();
    q.set('range', next.range);
    if (next.range === 'custom') { q.set('from', next.from); q.set('to', next.to); }
    q.set('tz', next.tz);
    if (next.interval !== 'auto') q.set('interval', next.interval);
    if (next.types.length) q.set('type', next.types.join(','));
    for (const name of ['userId', 'sessionId', ...Object.keys(PROPERTY_FILTERS), 'sessionsUser', 'session', 'funnel']) {
      if (next[name]) q.set(name, next[name]);
    }
    if (next.window !== '1d') q.set('window', next.window);
    if (next.by !== 'user') q.set('by', next.by);
    if (next.retention !== 'week') q.set('retention', next.retention);
    const url = `${location.pathname}?${q}`;
    if (url !== location.pathname + location.search) history.pushState(null, '', url);
    state = readState();
    render();
  }
  const update = (changes) => writeState({ ...state, ...changes });
  let state = readState();

  function currentRange() {
    if (state.range === 'custom') return [Date.parse(state.from), Date.parse(state.to)];
    const end = Math.ceil(Date.now() / 60000) * 60000;
    return [end - PRESETS[state.range], end];
  }
  function autoInterval(spanMs) {
    if (spanMs <= 3 * 3600e3) return 'minute';
    if (spanMs <= 4 * 86400e3) return 'hour';
    if (spanMs <= 120 * 86400e3) return 'day';
    return spanMs <= 3 * 365 * 86400e3 ? 'week' : 'month';
  }

  // ---- the API, with the read key when this logstream asks for one ----
  let keyPrompt = null;
  function askKey() {
    if (!keyPrompt) {
      keyPrompt = new Promise((resolve) => {
        const dialog = $('key-dialog');
        $('key-form').onsubmit = () => {
          sessionStorage.setItem(KEY_STORE, $('key').value);
          $('key').value = '';
          keyPrompt = null;
          resolve();
        };
        dialog.showModal();
      });
    }
    return keyPrompt;
  }
  function headers(extra = {}) {
    const key = sessionStorage.getItem(KEY_STORE);
    return key ? { ...extra, 'X-API-Key': key } : extra;
  }
  let pageAbort = new AbortController();
  async function api(path, params = {}) {
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      for (const item of Array.isArray(v) ? v : [v]) if (item !== '' && item != null) query.append(k, item);
    }
    const signal = pageAbort.signal;
    for (;;) {
      const response = await fetch(`${path}?${query}`, { headers: headers(), signal });
      if (response.status === 401 || response.status === 403) { await askKey(); continue; }
      const body = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(`${path}: ${body.detail || response.status}`);
      return body;
    }
  }
  function filterParams(from, to, withEntities = true) {
    const params = { from: isoInZone(from, state.tz), to: isoInZone(to, state.tz), type: state.types.join(',') };
    if (withEntities) Object.assign(params, { userId: state.userId, sessionId: state.sessionId });
    return params;
  }

  // ---- charts ----
  const charts = {};
  // ECharts is the next deferred script: it has run by DOMContentLoaded.
  const chartsReady = window.echarts ? Promise.resolve()
    : new Promise((resolve) => document.addEventListener('DOMContentLoaded', resolve, { once: true }));
  function chart(id) {
    if (!charts[id]) charts[id] = echarts.init($(id), null, { renderer: 'canvas' });
    return charts[id];
  }
  function palette() { return darkScheme.matches ? DARK : LIGHT; }
  function baseOption() {
    const style = getComputedStyle(document.documentElement);
    const fg = style.getPropertyValue('--fg').trim();
    const line = style.getPropertyValue('--line').trim();
    return {
      aria: { enabled: true }, animation: false, backgroundColor: 'transparent', textStyle: { color: fg },
      tooltip: { confine: true }, _axis: { axisLine: { lineStyle: { color: line } }, splitLine: { lineStyle: { color: line } },
        axisLabel: { color: fg } },
    };
  }
  function setEmpty(id, empty, text = 'Nothing in this range') {
    const box = $(id);
    let note = box.previousElementSibling && box.previousElementSibling.classList.contains('empty')
      ? box.previousElementSibling : null;
    if (empty && !note) box.before(note = el('p', { class: 'empty muted', text }));
    if (note) note.hidden = !empty;
  }

  // ---- panels ----
  function renderControls() {
    $('range').value = state.range;
    for (const node of document.querySelectorAll('#controls .custom')) node.hidden = state.range !== 'custom';
    const [from, to] = currentRange();
    $('from').value = isoInZone(from, state.tz).slice(0, 16);
    $('to').value = isoInZone(to, state.tz).slice(0, 16);
    $('tz').value = state.tz;
    $('interval').value = state.interval;
    for (const box of document.querySelectorAll('input[name=type]')) {
      box.checked = !state.types.length || state.types.includes(box.value);
    }
    $('userId').value = state.userId;
    $('sessionId').value = state.sessionId;
    $('sessions-user').value = state.sessionsUser || state.userId;
    $('funnel-steps').value = funnelSteps().join(', ');
    $('funnel-window').value = state.window;
    $('funnel-by').value = state.by;
    $('retention-interval').value = state.retention;
    const chips = $('chips');
    chips.replaceChildren();
    for (const name of ['userId', 'sessionId', ...Object.keys(PROPERTY_FILTERS)]) {
      if (!state[name]) continue;
      const remove = el('button', { type: 'button', text: '×', 'aria-label': `Remove the ${name} filter` });
      remove.onclick = () => update({ [name]: '' });
      chips.append(el('span', { class: 'chip', 'data-filter': name }, `${name} = ${state[name]}`, remove));
    }
  }

  function tile(key, label, value, previous, color) {
    const delta = previous ? (value - previous) / previous : null;
    const text = delta === null ? (value ? 'new against the previous period' : 'none in either period')
      : `${change.format(delta)} against the previous period (${numbers.format(previous)})`;
    const name = el('span', { class: 'label' });
    if (color) name.append(el('span', { class: 'swatch', style: `background:${color}` }));
    name.append(label);
    return el('li', { class: 'tile', 'data-tile': key }, name,
      el('div', { class: 'value', 'data-value': String(value), text: numbers.format(value) }),
      el('div', { class: 'change', text }));
  }
  async function renderTiles(from, to) {
    const span = to - from;
    const [now, before] = await Promise.all([api('/v1/stats/summary', filterParams(from, to)),
      api('/v1/stats/summary', filterParams(from - span, from))]);
    const colors = palette();
    const items = [tile('total', 'Actions', now.total, before.total),
      tile('uniqueUsers', 'Unique users', now.uniqueUsers, before.uniqueUsers),
      tile('uniqueSessions', 'Unique sessions', now.uniqueSessions, before.uniqueSessions)];
    for (const t of Object.keys(now.byType)) {
      items.push(tile(`type-${t}`, t.charAt(0) + t.slice(1).toLowerCase(), now.byType[t], before.byType[t] || 0, colors[t]));
    }
    const property = Object.keys(PROPERTY_FILTERS).find((name) => state[name]);
    if (property) {
      const step = `${PROPERTY_FILTERS[property]}:${property}=${escapeStep(state[property])}`;
      const [users, sessions] = await Promise.all(['user', 'session'].map((by) => api('/v1/stats/funnel', {
        steps: step, by, window: '1s', from: isoInZone(from, state.tz), to: isoInZone(to, state.tz) })));
      items.push(tile('propertyUsers', `Users with ${property} ${state[property]}`, users.steps[0].entered, null),
        tile('propertySessions', `Sessions with ${property} ${state[property]}`, sessions.steps[0].entered, null));
      for (const item of items.slice(-2)) item.querySelector('.change').textContent = 'in this range';
    }
    $('tiles').replaceChildren(...items);
    performance.mark('logstream:first-numbers');
  }

  async function renderSeries(from, to) {
    const interval = state.interval === 'auto' ? autoInterval(to - from) : state.interval;
    $('series-interval').textContent = `per ${interval}`;
    const body = await api('/v1/stats/timeseries', { ...filterParams(from, to), interval, tz: state.tz });
    await chartsReady;
    const buckets = body.buckets;
    const starts = buckets.map((b) => Date.parse(b.start));
    const style = ['day', 'week', 'month'].includes(interval) ? 'day' : (to - from > 86400e3 ? 'short' : 'clock');
    const types = state.types.length ? state.types : TYPES;
    const colors = palette();
    const base = baseOption();
    const node = $('series');
    node.dataset.buckets = String(buckets.length);
    const c = chart('series');
    c.setOption({
      ...base, _axis: undefined, color: types.map((t) => colors[t]),
      legend: { data: types, top: 0, textStyle: { color: base.textStyle.color } },
      grid: { left: 56, right: 16, top: 32, bottom: 36 },
      tooltip: { trigger: 'axis', confine: true, axisPointer: { type: 'shadow' },
        formatter: (points) => [apiTime(buckets[points[0].dataIndex].start),
          ...points.map((p) => `${p.marker}${p.seriesName}: ${numbers.format(p.value)}`),
          `Total: ${numbers.format(buckets[points[0].dataIndex].total)}`].join('<br>') },
      xAxis: { type: 'category', data: buckets.map((b) => apiTime(b.start, style)), ...base._axis,
        axisLabel: { ...base._axis.axisLabel, hideOverlap: true } },
      yAxis: { type: 'value', ...base._axis, axisLabel: { ...base._axis.axisLabel, formatter: (v) => numbers.format(v) } },
      brush: { xAxisIndex: 0, toolbox: [], brushType: 'lineX', brushMode: 'single', transformable: false, throttleType: 'debounce',
        outOfBrush: { colorAlpha: 0.3 } },
      series: types.map((t) => ({ name: t, type: 'bar', stack: 'actions', barCategoryGap: '10%',
        data: buckets.map((b) => b.byType[t] || 0) })),
    }, true);
    c.off('brushEnd');
    c.dispatchAction({ type: 'takeGlobalCursor', key: 'brush', brushOption: { brushType: 'lineX', brushMode: 'single' } });
    c.on('brushEnd', (event) => {
      const area = event.areas && event.areas[0];
      if (!area || !area.coordRange) return;
      const [a, b] = area.coordRange.map((i) => Math.max(0, Math.min(buckets.length - 1, i)));
      const first = Math.min(a, b);
      const next = Math.max(a, b) + 1;
      const end = next < starts.length ? buckets[next].start : isoInZone(to, state.tz);
      if (Date.parse(end) > starts[first]) update({ range: 'custom', from: buckets[first].start, to: end });
    });
    setEmpty('series', buckets.every((b) => b.total === 0));
  }

  async function renderTop(dimension, from, to) {
    const body = await api('/v1/stats/top', { from: isoInZone(from, state.tz), to: isoInZone(to, state.tz),
      type: state.types.join(','), dimension, limit: 10 });
    const list = $(`top-${dimension}`);
    list.replaceChildren(...body.items.map((item) => {
      const button = el('button', { type: 'button', 'data-dimension': dimension, 'data-value': item.value,
        title: `Filter by ${dimension} ${item.value}` },
      el('span', { class: 'value-text', text: item.value }), el('span', { class: 'num', text: numbers.format(item.count) }));
      button.onclick = () => update({ [dimension]: item.value });
      return el('li', {}, button);
    }));
    if (!body.items.length) list.append(el('li', { class: 'muted', text: 'Nothing in this range' }));
  }

  async function renderFlows(from, to) {
    const focus = state.pageTo || state.pageFrom;
    const body = await api('/v1/stats/navigation', { from: isoInZone(from, state.tz), to: isoInZone(to, state.tz),
      limit: focus ? 1000 : 25 });
    await chartsReady;
    let transitions = body.transitions;
    if (focus) transitions = transitions.filter((t) => t.pageFrom === focus || t.pageTo === focus).slice(0, 25);
    const names = new Set();
    const links = transitions.map((t) => {
      names.add(`from:${t.pageFrom}`); names.add(`to:${t.pageTo}`);
      return { source: `from:${t.pageFrom}`, target: `to:${t.pageTo}`, value: t.count };
    });
    const base = baseOption();
    chart('flows').setOption({
      ...base, _axis: undefined, color: [palette().NAVIGATE, palette().CLICK, palette().VIEW],
      tooltip: { trigger: 'item', confine: true, formatter: (p) => (p.dataType === 'edge'
        ? `${esc(p.data.source.slice(5))} → ${esc(p.data.target.slice(3))}: ${numbers.format(p.data.value)}`
        : `${esc(p.name.slice(p.name.indexOf(':') + 1))}: ${numbers.format(p.value)}`) },
      series: [{ type: 'sankey', left: 8, right: 110, top: 8, bottom: 8, nodeGap: 6, draggable: false,
        emphasis: { focus: 'adjacency' }, data: [...names].map((name) => ({ name })), links,
        label: { color: base.textStyle.color, formatter: (p) => p.name.slice(p.name.indexOf(':') + 1) },
        lineStyle: { color: 'gradient', opacity: 0.35 } }],
    }, true);
    $('flows').dataset.links = String(links.length);
    setEmpty('flows', !links.length, 'No navigation in this range');
  }

  function escapeStep(value) { return value.replace(/\\/g, '\\\\').replace(/;/g, '\\;'); }
  function funnelSteps() {
    if (state.funnel) return state.funnel.split('\n');
    const property = Object.keys(PROPERTY_FILTERS).find((name) => state[name]);
    const first = property ? `${PROPERTY_FILTERS[property]}:${property}=${escapeStep(state[property])}` : 'NAVIGATE';
    return [first, 'VIEW', 'CLICK'];
  }
  async function renderFunnel(from, to) {
    const steps = funnelSteps();
    // A funnel reads every matching action of the range (seconds over tens of millions): on request only.
    const asked = state.funnel || Object.keys(PROPERTY_FILTERS).some((name) => state[name]);
    setEmpty('funnel', !asked, 'Choose the steps and press Show.');
    $('funnel').hidden = !asked;
    if (!asked) return;
    if (charts.funnel) charts.funnel.resize();
    const body = await api('/v1/stats/funnel', { steps, window: state.window, by: state.by,
      from: isoInZone(from, state.tz), to: isoInZone(to, state.tz) });
    await chartsReady;
    const base = baseOption();
    const color = palette().CLICK;
    chart('funnel').setOption({
      ...base, _axis: undefined, grid: { left: 8, right: 70, top: 8, bottom: 8, containLabel: true },
      tooltip: { trigger: 'axis', confine: true, axisPointer: { type: 'shadow' },
        formatter: (p) => { const s = body.steps[p[0].dataIndex];
          return `${esc(steps[s.step - 1])}: ${numbers.format(s.entered)} (${s.conversionFromFirst === null ? '–' : percent.format(s.conversionFromFirst)} of the first step)`; } },
      xAxis: { type: 'value', ...base._axis, axisLabel: { ...base._axis.axisLabel, formatter: (v) => numbers.format(v) } },
      yAxis: { type: 'category', inverse: true, data: steps.map((s, i) => `${i + 1}. ${s}`), ...base._axis },
      series: [{ type: 'bar', itemStyle: { color }, data: body.steps.map((s) => s.entered),
        label: { show: true, position: 'right', color: base.textStyle.color,
          formatter: (p) => { const s = body.steps[p.dataIndex];
            return s.conversionFromFirst === null ? numbers.format(s.entered) : `${numbers.format(s.entered)} · ${percent.format(s.conversionFromFirst)}`; } } }],
    }, true);
    $('funnel').dataset.entered = body.steps.map((s) => s.entered).join(',');
  }

  async function renderRetention(from, to) {
    const body = await api('/v1/stats/retention', { interval: state.retention, tz: state.tz,
      from: isoInZone(from, state.tz), to: isoInZone(to, state.tz) });
    await chartsReady;
    const cohorts = body.cohorts.slice(-12);
    const labels = cohorts.map((c) => `${apiTime(c.start, 'day')} (${numbers.format(c.users)})`);
    const width = Math.max(0, ...cohorts.map((c) => c.retained.length));
    const cells = [];
    cohorts.forEach((c, y) => c.shares.forEach((share, x) => cells.push([x, y, share === null ? null : share])));
    const base = baseOption();
    chart('retention').setOption({
      ...base, _axis: undefined, grid: { left: 8, right: 8, top: 8, bottom: 56, containLabel: true },
      tooltip: { confine: true, formatter: (p) => `${labels[p.value[1]]}, ${state.retention} ${p.value[0]}: ${
        p.value[2] === null ? '–' : percent.format(p.value[2])}` },
      xAxis: { type: 'category', data: Array.from({ length: width }, (_, i) => `+${i}`), ...base._axis },
      yAxis: { type: 'category', inverse: true, data: labels, ...base._axis },
      visualMap: { min: 0, max: 1, calculable: false, orient: 'horizontal', left: 'center', bottom: 0,
        inRange: { color: darkScheme.matches ? ['#16324a', '#56B4E9'] : ['#e8f1fa', '#0072B2'] },
        textStyle: { color: base.textStyle.color }, formatter: (v) => percent.format(v) },
      series: [{ type: 'heatmap', data: cells, label: { show: cohorts.length <= 12 && width <= 12,
        formatter: (p) => (p.value[2] === null ? '' : percent.format(p.value[2])), fontSize: 10 } }],
    }, true);
    setEmpty('retention', cohorts.every((c) => !c.users), 'No cohort in this range');
  }

  async function renderSessions(from, to) {
    const user = state.sessionsUser || state.userId;
    const list = $('sessions');
    if (!user) { list.replaceChildren(el('li', { class: 'muted', text: 'Pick a user (or click one in Most active users).' })); }
    else {
      const body = await api(`/v1/users/${encodeURIComponent(user)}/sessions`, {
        from: isoInZone(from, state.tz), to: isoInZone(to, state.tz), limit: 50 });
      list.replaceChildren(...body.sessions.map((s) => {
        const button = el('button', { type: 'button', 'data-session': s.sessionId,
          'aria-pressed': String(s.sessionId === state.session) },
        el('span', { class: 'value-text', text: `${s.sessionId} · ${formatTime(Date.parse(s.firstTime), state.tz, 'short')}` }),
        el('span', { class: 'num', text: `${numbers.format(s.total)} actions` }));
        button.onclick = () => update({ session: s.sessionId, sessionsUser: user });
        return el('li', {}, button);
      }));
      if (!body.sessions.length) list.append(el('li', { class: 'muted', text: 'No session started in this range' }));
    }
    const timeline = $('timeline');
    if (!state.session) { timeline.replaceChildren(); return; }
    const s = await api(`/v1/sessions/${encodeURIComponent(state.session)}`);
    const rows = s.actions.map((a) => el('tr', {}, el('td', { text: formatTime(Date.parse(a.time), state.tz) }),
      el('td', { text: a.type }), el('td', { text: describe(a) })));
    const close = el('button', { type: 'button', text: 'Close' });
    close.onclick = () => update({ session: '' });
    timeline.replaceChildren(el('h3', { text: `Session ${s.sessionId}` }),
      el('p', { class: 'muted small', text: `${s.userId}: ${numbers.format(s.total)} actions over ${
        numbers.format(Math.round(s.durationMs / 1000))} s${s.truncated ? ' (first ones shown)' : ''}` }), close,
      el('table', { 'data-session': s.sessionId }, el('thead', {}, el('tr', {}, el('th', { text: 'Time' }),
        el('th', { text: 'Type' }), el('th', { text: 'What' }))), el('tbody', {}, ...rows)));
  }
  function describe(action) {
    const p = action.properties || {};
    if (action.type === 'NAVIGATE') return `${p.pageFrom} → ${p.pageTo}`;
    if (action.type === 'VIEW') return String(p.viewedId);
    if (action.type === 'CLICK') return `(${p.locationX}, ${p.locationY})`;
    return JSON.stringify(p);
  }

  // ---- live tail: GET /v1/actions/live, read with fetch so the key travels as a header ----
  let live = null;
  function liveMatches(action) {
    return Object.keys(PROPERTY_FILTERS).every((name) => !state[name] || (action.properties || {})[name] === state[name]);
  }
  function showLive(actions) {
    const list = $('live');
    for (const a of actions) {
      if (!liveMatches(a)) continue;
      list.prepend(el('li', { 'data-action': a.actionId },
        el('span', { class: 'num', text: formatTime(Date.parse(a.time), state.tz, 'full') }),
        el('span', { class: 'swatch', style: `background:${palette()[a.type]}` }), el('strong', { text: a.type }),
        el('span', { text: `${a.userId} / ${a.sessionId}` }), el('span', { class: 'muted', text: describe(a) })));
    }
    while (list.children.length > LIVE_ROWS) list.lastElementChild.remove();
  }
  function startLive() {
    const filters = new URLSearchParams();
    if (state.types.length) filters.set('type', state.types.join(','));
    if (state.userId) filters.set('userId', state.userId);
    if (state.sessionId) filters.set('sessionId', state.sessionId);
    const query = filters.toString();
    if (live && live.query === query && !live.paused) return;
    if (live) live.abort.abort();
    const current = { query, abort: new AbortController(), lastId: live && live.query === query ? live.lastId : null, paused: false };
    live = current;
    $('live-toggle').textContent = 'Pause';
    $('live-toggle').setAttribute('aria-pressed', 'true');
    const status = (text) => { $('live-state').textContent = text; };
    (async () => {
      while (!current.abort.signal.aborted) {
        try {
          const extra = { Accept: 'text/event-stream' };
          if (current.lastId) extra['Last-Event-ID'] = current.lastId;
          const response = await fetch(`/v1/actions/live?${query}`, { headers: headers(extra), signal: current.abort.signal });
          if (response.status === 401 || response.status === 403) { await askKey(); continue; }
          if (!response.ok) throw new Error(String(response.status));
          status('· connected');
          const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
          let buffer = '';
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += value;
            let end;
            while ((end = buffer.indexOf('\n\n')) >= 0) {
              const block = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              const fields = { data: [] };
              for (const line of block.split('\n')) {
                const colon = line.indexOf(':');
                if (colon <= 0) continue;
                const name = line.slice(0, colon);
                const text = line.slice(colon + 1).replace(/^ /, '');
                if (name === 'data') fields.data.push(text); else fields[name] = text;
              }
              if (fields.id) current.lastId = fields.id;
              if (fields.event === 'actions') { showLive(JSON.parse(fields.data.join('\n')).actions); status('· connected'); }
              if (fields.event === 'behind') status('· catching up (more arrived than one update carries)');
            }
          }
        } catch (error) {
          if (current.abort.signal.aborted) return;
        }
        status('· reconnecting');
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    })();
  }
  $('live-toggle').onclick = () => {
    if (live && !live.paused) {
      live.paused = true;
      live.abort.abort();
      $('live-toggle').textContent = 'Resume';
      $('live-toggle').setAttribute('aria-pressed', 'false');
      $('live-state').textContent = '· paused';
    } else { startLive(); }
  };

  // ---- putting it together ----
  async function render() {
    pageAbort.abort();
    pageAbort = new AbortController();
    const signal = pageAbort.signal;
    renderControls();
    const [from, to] = currentRange();
    $('span').textContent = `${formatTime(from, state.tz)} – ${formatTime(to, state.tz)}, ${state.tz}`;
    $('status').textContent = '';
    const settled = (panel) => panel.then(() => null, (error) => error); // each panel's error, or null
    // the numbers first: the other panels' queries start once the tiles have theirs
    const panels = [settled(renderTiles(from, to)), settled(renderSeries(from, to))];
    await panels[0];
    if (signal.aborted) return;
    panels.push(...['pageTo', 'pageFrom', 'viewedId', 'userId'].map((d) => settled(renderTop(d, from, to))),
      ...[renderFlows, renderFunnel, renderRetention, renderSessions].map((panel) => settled(panel(from, to))));
    startLive();
    const errors = await Promise.all(panels);
    if (signal.aborted) return;
    $('status').textContent = errors.filter((e) => e && e.name !== 'AbortError').map((e) => e.message).join('; ');
    document.body.dataset.loaded = String(Date.now());
    performance.mark('logstream:complete');
  }

  $('controls').addEventListener('submit', (event) => {
    event.preventDefault();
    const changes = { tz: validZone($('tz').value) ? $('tz').value : state.tz, interval: $('interval').value,
      userId: $('userId').value.trim(), sessionId: $('sessionId').value.trim(), range: $('range').value };
    if (changes.range === 'custom') {
      const from = wallToMs($('from').value, changes.tz);
      const to = wallToMs($('to').value, changes.tz);
      if (!(from < to)) { $('status').textContent = 'From must be before To.'; return; }
      Object.assign(changes, { from: isoInZone(from, changes.tz), to: isoInZone(to, changes.tz) });
    }
    update(changes);
  });
  $('range').addEventListener('change', () => {
    if ($('range').value === 'custom') {
      const [from, to] = currentRange();
      update({ range: 'custom', from: isoInZone(from, state.tz), to: isoInZone(to, state.tz) });
    } else update({ range: $('range').value });
  });
  $('interval').addEventListener('change', () => update({ interval: $('interval').value }));
  for (const box of document.querySelectorAll('input[name=type]')) {
    box.addEventListener('change', () => {
      const chosen = [...document.querySelectorAll('input[name=type]:checked')].map((b) => b.value);
      if (!chosen.length) { box.checked = true; return; }
      update({ types: chosen.length === TYPES.length ? [] : chosen });
    });
  }
  $('funnel-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const steps = $('funnel-steps').value.split(',').map((s) => s.trim()).filter(Boolean);
    update({ funnel: steps.join('\n'), window: $('funnel-window').value.trim() || '1d', by: $('funnel-by').value });
  });
  $('retention-interval').addEventListener('change', () => update({ retention: $('retention-interval').value }));
  $('sessions-form').addEventListener('submit', (event) => {
    event.preventDefault();
    update({ sessionsUser: $('sessions-user').value.trim(), session: '' });
  });
  $('zones').replaceChildren(...(Intl.supportedValuesOf ? Intl.supportedValuesOf('timeZone') : [browserZone])
    .map((zone) => el('option', { value: zone })));
  window.addEventListener('popstate', () => { state = readState(); render(); });
  window.addEventListener('resize', () => Object.values(charts).forEach((c) => c.resize()));
  darkScheme.addEventListener('change', () => render());
  render();
})();
