// The Kill history tab: one page at a time of the instance's kill history, newest first. A kill
// by a rule names the rule: `rule:5 (long reports)`.
import { api, instancePath } from './api.js';
import { $, dateTime, duration, el, show } from './dom.js';
import { fetchRules } from './rules.js';
import { state, t } from './state.js';

const HISTORY_PAGE_SIZE = 50;

export async function loadHistory() {
  if (!state.instance) return;
  const gen = state.generation;
  const h = state.history;
  $('history-refresh').disabled = true;
  try {
    const q = '?page_num=' + h.page + '&page_size=' + HISTORY_PAGE_SIZE;
    const [{ data }, ruleNames] = await Promise.all([
      api('GET', instancePath() + '/auto-flow/query-kill-process-history' + q),
      namesOfRules(),
    ]);
    if (gen !== state.generation) return;
    h.ruleNames = ruleNames;
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

/** task_id → name of the instance's rules that have one. Without them (the list cannot be read
 * now) rule kills still show `rule:<id>`: the history itself does not depend on the rules. */
async function namesOfRules() {
  try {
    const rules = await fetchRules();
    return new Map(rules.filter((r) => r.name).map((r) => [Number(r.task_id), r.name]));
  } catch (e) {
    return new Map();
  }
}

/** Who killed the session: `killed_source`, and for a rule its name. */
function source(row) {
  const kind = row.killed_source.split(':')[0];
  const name = kind === 'rule' ? state.history.ruleNames.get(Number(row.task_id)) : undefined;
  return el('span', { class: 'source source-' + kind },
    name ? row.killed_source + ' (' + name + ')' : row.killed_source);
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
    el('td', null, source(r)))));
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
