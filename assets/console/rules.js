// The Auto kill tab: the instance's kill-rule switch, its rules with their state and counters
// (refreshed every few seconds while the tab is shown) and stopping a rule. The create form and
// its live preview are rule-form.js. A change the server refuses with 403 (a viewer) is shown
// above the rules, and the tab is read-only from then on.
import { ApiError, api, autoFlowPath } from './api.js';
import { ask } from './ask.js';
import { $, bannerShows, clock, dateTime, el, errorText, hideBanner, show, showBanner } from './dom.js';
import { closeRuleForm, drawRuleForm, openRuleForm, pausePreview, resumePreview, wireRuleForm } from './rule-form.js';
import { freshRules, isReadOnly, state, t } from './state.js';

const REFRESH_MS = 5000;

// task_state → the word shown (and the class of its chip).
const STATES = { 1: 'running', 2: 'stopped', 3: 'finished', 4: 'paused' };

/** The instance's rules, newest first (also what the history names rule kills with). */
export async function fetchRules() {
  const { data } = await api('GET', autoFlowPath('query-kill-process-task'));
  return data.sql_killing_task_resp_list || [];
}

/** `name` of a rule, or `rule:<id>` when it has none. */
export function ruleLabel(rule) {
  return rule.name || 'rule:' + rule.task_id;
}

export function stopRulesTimer() {
  clearTimeout(state.rules.timer);
  state.rules.timer = null;
}

/** Forgets the rules of the previous instance (a new one is chosen, or the user signed out). */
export function resetRules() {
  stopRulesTimer();
  state.rules = freshRules();
  closeRuleForm();
}

function scheduleRules() {
  stopRulesTimer();
  if (state.tab === 'rules' && state.instance && state.token && !document.hidden) {
    state.rules.timer = setTimeout(refreshRules, REFRESH_MS);
  }
}

/** The switch and the rules, both read again; then every REFRESH_MS while the tab is shown. */
export async function refreshRules() {
  const r = state.rules;
  if (!state.instance) return;
  // A change made while a read is on its way: read once more after it, to show the change.
  if (r.loading) {
    r.again = true;
    return;
  }
  stopRulesTimer();
  r.loading = true;
  const gen = state.generation;
  drawRulesRefresh();
  try {
    const [sw, list] = await Promise.all([
      api('GET', autoFlowPath('get-kill-process-task-switch')),
      fetchRules(),
    ]);
    if (gen !== state.generation) return;
    r.switchOn = String(sw.data.status).toUpperCase() === 'ON';
    r.list = list;
    r.loaded = true;
    r.loadedAt = new Date();
    r.error = null;
  } catch (e) {
    if (gen !== state.generation) return;
    r.error = e;
  } finally {
    r.loading = false;
    if (gen === state.generation) {
      drawRules();
      if (r.again) {
        r.again = false;
        refreshRules();
      } else {
        scheduleRules();
      }
    }
  }
}

/** A change the server refused: said above the rules; a 403 makes the tab read-only. */
function changeFailed(err) {
  if (err instanceof ApiError && err.status === 403) state.rules.denied = true;
  state.rules.notice = err;
}

async function toggleSwitch(event) {
  const r = state.rules;
  const want = event.target.checked;
  // The box shows what the server has until the server agrees to the change.
  event.target.checked = !!r.switchOn;
  if (r.switchBusy || r.switchOn === null) return;
  const gen = state.generation;
  const armed = r.list.filter((rule) => rule.task_state === 1 && rule.mode !== 'observe').length;
  if (want && armed > 0) {
    const yes = await ask({
      title: t('switchOnTitle'),
      text: t('switchOnText', { n: armed }),
      confirm: t('switchOnConfirm'),
    });
    if (!yes || gen !== state.generation) return;
  }
  r.switchBusy = true;
  drawRules();
  try {
    await api('POST', autoFlowPath('set-kill-process-task-switch'), { status: want ? 'ON' : 'OFF' });
    if (gen !== state.generation) return;
    r.switchOn = want;
    r.notice = null;
  } catch (e) {
    if (gen !== state.generation) return;
    changeFailed(e);
  } finally {
    r.switchBusy = false;
    if (gen === state.generation) {
      drawRules();
      refreshRules();
    }
  }
}

async function stopRule(taskId) {
  const rule = state.rules.list.find((x) => String(x.task_id) === taskId);
  if (!rule) return;
  const gen = state.generation;
  const yes = await ask({
    title: t('stopTitle', { name: ruleLabel(rule) }),
    text: t('stopText'),
    confirm: t('stopRule'),
  });
  if (!yes || gen !== state.generation) return;
  try {
    await api('POST', autoFlowPath('terminate-kill-process-task'), { task_id: taskId });
    if (gen !== state.generation) return;
    state.rules.notice = null;
  } catch (e) {
    if (gen !== state.generation) return;
    changeFailed(e);
  }
  drawRules();
  refreshRules();
}

// ---------------------------------------------------------------- drawing

function drawRulesRefresh() {
  const r = state.rules;
  $('rules-refreshed-at').textContent = r.loading && !r.loaded ? t('loading')
    : r.loadedAt ? t('updatedAt', { time: clock(r.loadedAt) }) : '';
  $('rules-refresh').disabled = r.loading;
}

function drawSwitch() {
  const r = state.rules;
  const box = $('rules-switch');
  box.checked = !!r.switchOn;
  box.disabled = r.switchOn === null || r.switchBusy || isReadOnly();
  $('rules-switch-label').classList.toggle('on', !!r.switchOn);
  $('rules-switch-text').textContent = r.switchOn === null ? t('switchUnknown')
    : r.switchOn ? t('switchOn') : t('switchOff');
  $('rules-switch-hint').textContent = r.switchOn === null ? ''
    : isReadOnly() ? t('rulesReadOnly')
      : r.switchOn ? t('switchOnHint') : t('switchOffHint');
}

function drawNotice() {
  const err = state.rules.notice;
  show($('rules-notice'), !!err);
  if (!err) return;
  const denied = err instanceof ApiError && err.status === 403;
  $('rules-notice-text').textContent = denied ? t('needOperator') : errorText(err);
  // The server's own words stay visible (in small) for a refusal explained in ours.
  $('rules-notice-detail').textContent = denied ? errorText(err) : '';
}

/** Who the rule kills: its conditions, and the limits that hold it back. */
function conditions(rule) {
  const parts = [];
  const add = (key, value) => parts.push(el('span', { class: 'cond' }, t(key, { v: value })));
  if (rule.user) add('condUser', rule.user);
  if (rule.host) add('condHost', rule.host);
  if (rule.db) add('condDb', rule.db);
  if (rule.command) add('condCommand', rule.command);
  if (rule.info) add('condInfo', rule.info);
  if (rule.state) add('condState', rule.state);
  add('condTime', rule.time);
  if (rule.min_trx_time) add('condTrx', rule.min_trx_time);
  if (rule.max_kills_per_minute) add('condMaxKills', rule.max_kills_per_minute);
  if (rule.pause_above) add('condPauseAbove', rule.pause_above);
  const dbUser = state.dbUsers.find((u) => u.db_user_id === rule.db_user_id);
  if (dbUser) add('condAs', dbUser.db_username);
  return parts;
}

function ruleRow(rule, readOnly) {
  const id = String(rule.task_id);
  const word = STATES[rule.task_state];
  const stoppable = rule.task_state === 1 || rule.task_state === 4;
  const mode = rule.mode || 'enforce';
  const killType = rule.kill_type || 'connection';
  return el('tr', {
    class: (state.rules.highlight === rule.task_id ? 'fresh' : '') + (stoppable ? '' : ' ended'),
    dataset: { taskId: id, state: word || String(rule.task_state) },
  },
  el('td', { class: 'rule-name ellipsis', title: rule.name ? 'rule:' + id : '' }, ruleLabel(rule)),
  el('td', null, el('span', { class: 'rule-state rule-state-' + (word || 'unknown') },
    word ? t('state_' + word) : String(rule.task_state))),
  el('td', null, el('span', { class: 'mode mode-' + mode }, t('modeShort_' + mode))),
  el('td', { class: 'conditions' }, ...conditions(rule)),
  el('td', null, t('killTypeShort_' + killType)),
  el('td', { class: 'col-num mono', dataset: { counter: 'matched' } }, rule.matched_total ?? 0),
  el('td', { class: 'col-num mono', dataset: { counter: 'killed' } }, rule.killed_total ?? 0),
  el('td', { class: 'mono nowrap' }, rule.last_kill_time ? dateTime(rule.last_kill_time) : '—'),
  el('td', { class: 'mono nowrap' }, rule.start_time ? dateTime(rule.start_time) : '—'),
  el('td', { class: 'mono nowrap' }, rule.end_time ? dateTime(rule.end_time) : t('untilStopped')),
  el('td', { class: 'col-action' }, stoppable && !readOnly
    ? el('button', { type: 'button', class: 'btn btn-small btn-danger-outline', dataset: { action: 'stop', taskId: id } }, t('stopRule'))
    : null));
}

export function drawRules() {
  const r = state.rules;
  drawRulesRefresh();
  drawSwitch();
  drawNotice();
  const running = r.list.filter((rule) => rule.task_state === 1).length;
  $('tab-rules-count').textContent = r.loaded && running ? String(running) : '';
  const readOnly = isReadOnly();
  $('rules-body').replaceChildren(...r.list.map((rule) => ruleRow(rule, readOnly)));
  const empty = $('rules-empty');
  empty.replaceChildren();
  if (r.error && !r.loaded) empty.append(el('div', { class: 'empty-error' }, errorText(r.error)));
  else if (!r.loaded) empty.append(el('span', { class: 'spinner' }), t('loading'));
  else if (!r.list.length) empty.append(t('noRules'));
  show(empty, empty.childNodes.length > 0);
  if (r.error && r.loaded) showBanner(r.error, 'rules');
  else if (!r.error && bannerShows('rules')) hideBanner();
  drawRuleForm();
}

/** Entering the tab, or the page coming back into view on it. */
export function enterRules() {
  refreshRules();
  resumePreview();
}

/** Leaving the tab: nothing refreshes in the background. */
export function leaveRules() {
  stopRulesTimer();
  pausePreview();
}

/** The tab's controls. */
export function wireRules() {
  $('rules-switch').addEventListener('change', toggleSwitch);
  $('rules-refresh').addEventListener('click', refreshRules);
  $('rules-new').addEventListener('click', openRuleForm);
  $('rules-body').addEventListener('click', (e) => {
    const button = e.target.closest('button[data-action=stop]');
    if (button) stopRule(button.dataset.taskId);
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && state.tab === 'rules') enterRules();
  });
  wireRuleForm((taskId) => {
    state.rules.highlight = taskId;
    refreshRules();
  });
}
