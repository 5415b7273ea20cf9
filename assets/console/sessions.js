// The Sessions tab: paging through the instance's sessions and refreshing them on a timer, the
// filters, the "by user / host / database" counts, sorting, the session table and the selection
// that the kill buttons act on.
import { api, enc, instancePath } from './api.js';
import { $, bannerShows, clock, duration, el, hideBanner, hostOnly, show, showBanner } from './dom.js';
import { state, t } from './state.js';

const REFRESH_MS = 2500;
const PAGE = 1000;                // ListProcesses allows up to 1000 rows a page
const MAX_SESSIONS = 50000;       // stop paging there: the browser would not cope anyway
const MAX_ROWS = 2000;            // rows drawn at once; filters narrow the rest
const COUNT_ROWS = 8;             // entries per "by user / host / database" box

export function stopTimer() {
  clearTimeout(state.timer);
  state.timer = null;
}

function scheduleRefresh() {
  stopTimer();
  if ($('auto-refresh').checked && state.dbUser && state.tab === 'sessions' && !document.hidden && state.token) {
    state.timer = setTimeout(refreshSessions, REFRESH_MS);
  }
}

export async function refreshSessions() {
  const gen = state.generation;
  if (!state.dbUser || state.refreshing === gen) return;
  stopTimer();
  state.refreshing = gen;
  drawRefreshState();
  try {
    const seen = new Map();
    let count = 0;
    for (let offset = 0; offset < MAX_SESSIONS; offset += PAGE) {
      const q = '?db_user_id=' + enc(state.dbUser) + '&offset=' + offset + '&limit=' + PAGE;
      const { data } = await api('GET', instancePath() + '/processes' + q);
      if (gen !== state.generation) return;
      count = data.count;
      // Sessions come and go between pages; an id seen twice is the same session.
      for (const p of data.processes) seen.set(p.id, p);
      if (offset + PAGE >= count || data.processes.length === 0) break;
    }
    state.sessions = [...seen.values()];
    state.count = count;
    state.loaded = true;
    state.loadedAt = new Date();
    state.sessionsError = null;
    // A selected session that has ended cannot be killed any more: forget it.
    for (const id of [...state.selected]) if (!seen.has(id)) state.selected.delete(id);
  } catch (e) {
    if (gen !== state.generation) return;
    state.sessionsError = e;
  } finally {
    // A listing for an earlier choice ends quietly: the current choice has its own.
    if (state.refreshing === gen) state.refreshing = null;
    if (gen === state.generation) {
      drawSessions();
      scheduleRefresh();
    }
  }
}

/** A session between statements: MySQL's `Sleep`, PostgreSQL's `idle`. A PostgreSQL backend
 * `idle in transaction` holds its transaction open, so it is not hidden with them (DAS's own
 * PostgreSQL session list hides only `idle` ones). */
function isIdle(p) {
  return p.command === 'Sleep' || p.command === 'idle';
}

function matches(p, f, minTime) {
  if (f.user && p.user !== f.user) return false;
  if (f.database && p.database !== f.database) return false;
  if (f.command && p.command !== f.command) return false;
  if (f.host && !p.host.toLowerCase().includes(f.host.toLowerCase())) return false;
  if (minTime > 0 && Number(p.time) < minTime) return false;
  if (f.hideSleep && isIdle(p)) return false;
  return true;
}

function visibleSessions() {
  const f = state.filters;
  const minTime = Number(f.minTime) || 0;
  const rows = state.sessions.filter((p) => matches(p, f, minTime));
  const { key, dir } = state.sort;
  const sign = dir === 'asc' ? 1 : -1;
  const num = { id: 'id', time: 'time', trx: 'trx_executed_time' }[key];
  rows.sort((a, b) => {
    let d = num ? Number(a[num]) - Number(b[num]) : a[key].localeCompare(b[key]);
    if (d === 0) d = Number(a.id) - Number(b.id);
    return d * sign;
  });
  return rows;
}

function drawRefreshState() {
  const at = state.loadedAt ? t('updatedAt', { time: clock(state.loadedAt) }) : '';
  const refreshing = state.refreshing !== null;
  $('refreshed-at').textContent = refreshing && !state.loaded ? t('loading') : at;
  $('refresh').disabled = refreshing;
}

/** The filter drop-downs offer the values present; a chosen value stays even if it vanished. */
function fillFilterSelect(select, values, chosen, anyLabel) {
  const all = [...new Set(values)].sort((a, b) => a.localeCompare(b));
  if (chosen && !all.includes(chosen)) all.unshift(chosen);
  const signature = state.lang + '\u0000' + all.join('\u0000');
  // Rebuilding the options closes an open drop-down, so only do it when they change.
  if (select.dataset.signature !== signature) {
    select.replaceChildren(el('option', { value: '' }, anyLabel), ...all.map((v) => el('option', { value: v }, v)));
    select.dataset.signature = signature;
  }
  select.value = chosen;
}

function drawCounts(rows) {
  const groups = [
    ['counts-user', 'user', (p) => p.user],
    ['counts-host', 'host', (p) => hostOnly(p.host)],
    ['counts-database', 'database', (p) => p.database],
  ];
  for (const [id, filter, keyOf] of groups) {
    const counts = new Map();
    for (const p of rows) counts.set(keyOf(p), (counts.get(keyOf(p)) || 0) + 1);
    const sorted = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    const max = sorted.length ? sorted[0][1] : 1;
    const table = $(id);
    table.replaceChildren();
    for (const [name, n] of sorted.slice(0, COUNT_ROWS)) {
      const active = state.filters[filter] === name;
      const bar = el('span', { class: 'count-bar' });
      bar.style.width = Math.max(4, Math.round((n / max) * 100)) + '%';
      table.append(el('tr', {
        class: 'count-row' + (active ? ' active' : ''),
        dataset: { filter, value: name },
        title: active ? t('countClear') : t('countFilter'),
      },
      el('td', { class: 'count-name' }, el('span', { class: 'count-label' }, name || '—'), bar),
      el('td', { class: 'count-n' }, n)));
    }
    if (sorted.length > COUNT_ROWS) {
      table.append(el('tr', { class: 'count-more' }, el('td', { colspan: '2' }, t('andMore', { n: sorted.length - COUNT_ROWS }))));
    }
    if (!sorted.length) table.append(el('tr', { class: 'count-more' }, el('td', { colspan: '2' }, '—')));
  }
}

function timeClass(p) {
  if (isIdle(p)) return '';
  const s = Number(p.time);
  return s >= 600 ? ' hot' : s >= 60 ? ' warm' : '';
}

function sessionRow(p) {
  const selected = state.selected.has(p.id);
  const sql = p.sql || '';
  return el('tr', {
    class: (selected ? 'selected' : '') + (isIdle(p) ? ' sleeping' : ''),
    dataset: { id: p.id },
  },
  el('td', { class: 'col-check' }, el('input', {
    type: 'checkbox', checked: selected, dataset: { id: p.id }, 'aria-label': t('selectSession', { id: p.id }),
  })),
  el('td', { class: 'col-id mono' }, p.id),
  el('td', { class: 'ellipsis', title: p.user }, p.user),
  el('td', { class: 'mono ellipsis', title: p.host }, p.host),
  el('td', { class: 'ellipsis', title: p.database }, p.database),
  el('td', null, el('span', { class: 'cmd cmd-' + p.command.toLowerCase().replace(/[^a-z]/g, '') }, p.command)),
  el('td', { class: 'col-num mono' + timeClass(p), title: p.time + ' s' }, duration(p.time)),
  el('td', { class: 'ellipsis state', title: p.state }, p.state),
  el('td', { class: 'col-num mono' + (Number(p.trx_executed_time) > 0 ? ' trx' : ''), title: p.trx_executed_time + ' s' },
    Number(p.trx_executed_time) > 0 ? duration(p.trx_executed_time) : ''),
  el('td', { class: 'col-sql mono', title: sql }, sql));
}

export function drawSessions() {
  drawRefreshState();
  const ready = !!state.dbUser;
  const s = state.sessions;
  const f = state.filters;
  fillFilterSelect($('filter-user'), s.map((p) => p.user), f.user, t('any'));
  fillFilterSelect($('filter-database'), s.map((p) => p.database), f.database, t('any'));
  fillFilterSelect($('filter-command'), s.map((p) => p.command), f.command, t('any'));
  $('tab-sessions-count').textContent = state.loaded ? String(state.count) : '';

  const rows = visibleSessions();
  const visibleIds = new Set(rows.map((p) => p.id));
  drawCounts(rows);

  const body = $('sessions-body');
  body.replaceChildren(...rows.slice(0, MAX_ROWS).map(sessionRow));

  const empty = $('sessions-empty');
  empty.replaceChildren();
  if (!ready) {
    empty.append(t('pickFirst'));
  } else if (state.sessionsError && !state.loaded) {
    empty.append(el('div', { class: 'empty-error' }, state.sessionsError.message));
  } else if (!state.loaded) {
    empty.append(el('span', { class: 'spinner' }), t('loadingSessions'));
  } else if (rows.length === 0) {
    empty.append(state.sessions.length ? t('noMatch') : t('noSessions'));
    if (state.sessions.length) {
      empty.append(' ', el('button', { type: 'button', class: 'btn btn-link', dataset: { action: 'clear-filters' } }, t('clearFilters')));
    }
  }
  show(empty, empty.childNodes.length > 0);

  const foot = $('sessions-foot');
  const notes = [];
  if (rows.length > MAX_ROWS) notes.push(t('rowsCapped', { n: MAX_ROWS, total: rows.length }));
  if (state.count > state.sessions.length) notes.push(t('sessionsCapped', { n: state.sessions.length, total: state.count }));
  foot.textContent = notes.join(' ');
  show(foot, notes.length > 0);

  if (state.sessionsError && state.loaded) showBanner(state.sessionsError, 'sessions');
  else if (!state.sessionsError && bannerShows('sessions')) hideBanner();

  // Summary, selection, buttons.
  $('summary').textContent = state.loaded
    ? t('summary', { shown: rows.length, total: state.count })
    : '';
  const n = state.selected.size;
  const hidden = [...state.selected].filter((id) => !visibleIds.has(id)).length;
  show($('selection'), n > 0);
  $('selection-text').textContent = hidden
    ? t('selectedHidden', { n, hidden })
    : t('selectedN', { n });
  const kq = $('kill-query');
  const kc = $('kill-connection');
  kq.disabled = kc.disabled = n === 0;
  kq.textContent = n ? t('killQueryN', { n }) : t('killQuery');
  kc.textContent = n ? t('killConnectionN', { n }) : t('killConnection');

  const all = $('select-all');
  const selVisible = rows.filter((p) => state.selected.has(p.id)).length;
  all.checked = rows.length > 0 && selVisible === rows.length;
  all.indeterminate = selVisible > 0 && selVisible < rows.length;
  all.disabled = rows.length === 0;

  for (const th of document.querySelectorAll('#sessions-table th.sortable')) {
    const on = th.dataset.sort === state.sort.key;
    th.classList.toggle('sorted', on);
    th.setAttribute('aria-sort', on ? (state.sort.dir === 'asc' ? 'ascending' : 'descending') : 'none');
    th.querySelector('.sort-mark').textContent = on ? (state.sort.dir === 'asc' ? '▲' : '▼') : '';
  }
}

function setFilter(key, value) {
  state.filters[key] = value;
  drawSessions();
}

function clearFilters() {
  state.filters = { user: '', database: '', host: '', command: '', minTime: '', hideSleep: false };
  $('filter-host').value = '';
  $('filter-min-time').value = '';
  $('filter-hide-sleep').checked = false;
  drawSessions();
}

function toggleSelected(id, on) {
  if (on) state.selected.add(id);
  else state.selected.delete(id);
  drawSessions();
}

/** The controls of the Sessions tab. */
export function wireSessions() {
  $('filter-user').addEventListener('change', (e) => setFilter('user', e.target.value));
  $('filter-database').addEventListener('change', (e) => setFilter('database', e.target.value));
  $('filter-command').addEventListener('change', (e) => setFilter('command', e.target.value));
  $('filter-host').addEventListener('input', (e) => setFilter('host', e.target.value.trim()));
  $('filter-min-time').addEventListener('input', (e) => setFilter('minTime', e.target.value));
  $('filter-hide-sleep').addEventListener('change', (e) => setFilter('hideSleep', e.target.checked));
  $('filter-clear').addEventListener('click', clearFilters);
  $('auto-refresh').addEventListener('change', (e) => (e.target.checked ? refreshSessions() : stopTimer()));
  $('refresh').addEventListener('click', refreshSessions);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && state.tab === 'sessions') refreshSessions();
  });

  // Counts filter on click; clicking the active one clears it.
  document.querySelector('.counts').addEventListener('click', (e) => {
    const row = e.target.closest('tr.count-row');
    if (!row) return;
    const { filter, value } = row.dataset;
    const next = state.filters[filter] === value ? '' : value;
    if (filter === 'host') $('filter-host').value = next;
    setFilter(filter, next);
  });

  const body = $('sessions-body');
  body.addEventListener('change', (e) => {
    if (e.target.matches('input[type=checkbox]')) toggleSelected(e.target.dataset.id, e.target.checked);
  });
  // A click anywhere on a row toggles it, unless the user is selecting text to copy.
  body.addEventListener('click', (e) => {
    if (e.target.closest('input')) return;
    const row = e.target.closest('tr[data-id]');
    if (!row || String(window.getSelection())) return;
    toggleSelected(row.dataset.id, !state.selected.has(row.dataset.id));
  });
  $('select-all').addEventListener('change', () => {
    const rows = visibleSessions();
    const allOn = rows.length > 0 && rows.every((p) => state.selected.has(p.id));
    for (const p of rows) {
      if (allOn) state.selected.delete(p.id);
      else state.selected.add(p.id);
    }
    drawSessions();
  });
  $('selection-clear').addEventListener('click', () => {
    state.selected.clear();
    drawSessions();
  });
  $('sessions-empty').addEventListener('click', (e) => {
    if (e.target.closest('[data-action=clear-filters]')) clearFilters();
  });
  for (const th of document.querySelectorAll('#sessions-table th.sortable')) {
    th.addEventListener('click', () => {
      const key = th.dataset.sort;
      const dir = state.sort.key === key ? (state.sort.dir === 'asc' ? 'desc' : 'asc') : key === 'id' || key === 'user' ? 'asc' : 'desc';
      state.sort = { key, dir };
      drawSessions();
    });
  }
}
