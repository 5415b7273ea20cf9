// The Kill history tab: one page at a time of the instance's kill history, newest first.
import { api, instancePath } from './api.js';
import { $, dateTime, duration, el, show } from './dom.js';
import { state, t } from './state.js';

const HISTORY_PAGE_SIZE = 50;

export async function loadHistory() {
  if (!state.instance) return;
  const gen = state.generation;
  const h = state.history;
  $('history-refresh').disabled = true;
  try {
    const q = '?page_num=' + h.page + '&page_size=' + HISTORY_PAGE_SIZE;
    const { data } = await api('GET', instancePath() + '/auto-flow/query-kill-process-history' + q);
    if (gen !== state.generation) return;
    h.rows = data.killed_sessions || [];
    h.total = data.total_count || 0;
    h.error = null;
    h.loaded = true;
  } catch (e) {
    if (gen !== state.generation) return;
    h.error = e;
  } finally {
    $('history-refresh').disabled = false;
    drawHistory();
  }
}

export function drawHistory() {
  const h = state.history;
  const pages = Math.max(1, Math.ceil(h.total / HISTORY_PAGE_SIZE));
  $('history-summary').textContent = h.loaded ? t('historySummary', { n: h.total }) : '';
  $('history-page').textContent = t('pageOf', { page: h.page, pages });
  $('history-prev').disabled = h.page <= 1;
  $('history-next').disabled = h.page >= pages;
  $('history-body').replaceChildren(...h.rows.map((r) => el('tr', { dataset: { sessionId: String(r.session_id) } },
    el('td', { class: 'mono nowrap' }, dateTime(r.kill_time)),
    el('td', { class: 'mono col-id' }, r.session_id),
    el('td', { class: 'ellipsis' }, r.user),
    el('td', { class: 'mono ellipsis', title: r.host }, r.host),
    el('td', { class: 'ellipsis' }, r.db),
    el('td', null, r.command),
    el('td', { class: 'mono col-num' }, duration(r.time)),
    el('td', { class: 'ellipsis state', title: r.state }, r.state),
    el('td', { class: 'mono col-sql', title: r.info }, r.info),
    el('td', null, el('span', { class: 'source source-' + r.killed_source.split(':')[0] }, r.killed_source)))));
  const empty = $('history-empty');
  empty.replaceChildren();
  if (h.error) empty.append(el('div', { class: 'empty-error' }, h.error.message));
  else if (!h.loaded) empty.append(el('span', { class: 'spinner' }), t('loading'));
  else if (!h.rows.length) empty.append(t('historyEmpty'));
  show(empty, empty.childNodes.length > 0);
}

/** The paging and refresh buttons of the history tab. */
export function wireHistory() {
  $('history-refresh').addEventListener('click', loadHistory);
  $('history-prev').addEventListener('click', () => {
    state.history.page = Math.max(1, state.history.page - 1);
    loadHistory();
  });
  $('history-next').addEventListener('click', () => {
    state.history.page += 1;
    loadHistory();
  });
}
