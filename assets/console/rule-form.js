// The form that creates a kill rule, and its live preview: what the rule would kill now, asked of
// the server (POST preview-session-for-kill-process-task, the same matching the rule runner
// uses) 400 ms after the last edit and again every few seconds while the form is open, so the
// DBA sees the victims before the rule exists. Create is PUT add-kill-process-task.
import { ApiError, api, autoFlowPath } from './api.js';
import { $, clock, duration, el, errorText, show } from './dom.js';
import { freshRuleForm, isReadOnly, state, t } from './state.js';

const DEBOUNCE_MS = 400;
const PREVIEW_EVERY_MS = 3000;

// [body field, input id, trimmed]: the text conditions. `info` and `state` are substrings, so
// they are sent as typed.
const TEXT_FIELDS = [
  ['user', 'rule-user', true],
  ['host', 'rule-host', true],
  ['db', 'rule-db', true],
  ['command', 'rule-command', true],
  ['info', 'rule-info', false],
  ['state', 'rule-state', false],
];

// What to do once a rule is created: rules.js sets it (refresh the list, mark the new rule).
let created = () => {};

/** A whole number ≥ min from an input; null when empty, NaN when not such a number. */
function whole(id, min) {
  const raw = $(id).value.trim();
  if (raw === '') return null;
  const n = Number(raw);
  return Number.isInteger(n) && n >= min ? n : NaN;
}

/** The add/preview body the form describes, or the first thing it lacks (`problem`). */
function readForm() {
  const body = { task_type: 'auto' };
  const name = $('rule-name').value.trim();
  if (name) body.name = name;
  for (const [key, id, trim] of TEXT_FIELDS) {
    const value = trim ? $(id).value.trim() : $(id).value;
    if (value) body[key] = value;
  }
  const bad = (field, min) => ({ body, problem: t('badWhole', { field: t(field), min }) });
  const time = whole('rule-time', 1);
  if (time === null) return { body, problem: t('needTime') };
  if (Number.isNaN(time)) return bad('ruleTime', 1);
  body.time = time;
  if ($('rule-duration-mode').value === 'for') {
    const n = whole('rule-duration', 1);
    if (n === null || Number.isNaN(n)) return bad('ruleDurationValue', 1);
    body.task_duration = n * Number($('rule-duration-unit').value);
  } else {
    body.task_duration = -1;
  }
  for (const [key, id, label] of [
    ['min_trx_time', 'rule-trx', 'ruleTrx'],
    ['max_kills_per_minute', 'rule-max-kills', 'ruleMaxKills'],
    ['pause_above', 'rule-pause-above', 'rulePauseAbove'],
  ]) {
    const n = whole(id, 0);
    if (Number.isNaN(n)) return bad(label, 0);
    if (n !== null) body[key] = n;
  }
  body.kill_type = $('rule-kill-type').value;
  body.mode = $('rule-mode').value;
  const dbUser = $('rule-db-user').value;
  if (dbUser) body.db_user_id = dbUser;
  return { body, problem: null };
}

// ---------------------------------------------------------------- preview

/** Any change to the form: the preview follows DEBOUNCE_MS after the last one. */
function edited() {
  const f = state.ruleForm;
  if (!f.open) return;
  // An answer already on its way describes the form before this edit: it is dropped.
  f.seq++;
  f.busy = false;
  f.problem = readForm().problem;
  f.createError = null;
  clearTimeout(f.timer);
  if (!f.problem) f.timer = setTimeout(runPreview, DEBOUNCE_MS);
  drawRuleForm();
}

async function runPreview() {
  const f = state.ruleForm;
  clearTimeout(f.timer);
  // Nothing is asked for a form nobody can see; resumePreview() starts again.
  if (!f.open || state.tab !== 'rules' || document.hidden || !state.token) return;
  const { body, problem } = readForm();
  f.problem = problem;
  if (problem) {
    drawRuleForm();
    return;
  }
  const seq = ++f.seq;
  const key = previewKey(body);
  f.busy = true;
  drawRuleForm();
  try {
    const { data } = await api('POST', autoFlowPath('preview-session-for-kill-process-task'), body);
    if (f !== state.ruleForm || seq !== f.seq) return;
    f.preview = { data, key, at: new Date() };
    f.previewError = null;
  } catch (e) {
    if (f !== state.ruleForm || seq !== f.seq) return;
    f.previewError = e;
  } finally {
    if (f === state.ruleForm && seq === f.seq) {
      f.busy = false;
      drawRuleForm();
      if (f.open) f.timer = setTimeout(runPreview, PREVIEW_EVERY_MS);
    }
  }
}

/** What the preview depends on: the body without the rule's name. */
function previewKey(body) {
  return JSON.stringify({ ...body, name: undefined });
}

export function pausePreview() {
  clearTimeout(state.ruleForm.timer);
}

export function resumePreview() {
  const f = state.ruleForm;
  if (!f.open) return;
  clearTimeout(f.timer);
  f.timer = setTimeout(runPreview, 0);
}

// ---------------------------------------------------------------- create

async function createRule() {
  const f = state.ruleForm;
  if (!f.open || f.creating || isReadOnly()) return;
  const { body, problem } = readForm();
  f.problem = problem;
  if (problem) {
    drawRuleForm();
    return;
  }
  f.creating = true;
  f.createError = null;
  drawRuleForm();
  try {
    const { data } = await api('PUT', autoFlowPath('add-kill-process-task'), body);
    if (f !== state.ruleForm) return;
    closeRuleForm();
    created(data && data.task_id);
  } catch (e) {
    if (f !== state.ruleForm) return;
    if (e instanceof ApiError && e.status === 403) state.rules.denied = true;
    f.createError = e;
  } finally {
    f.creating = false;
    if (f === state.ruleForm) drawRuleForm();
  }
}

// ---------------------------------------------------------------- open / close

function fillList(id, values) {
  const all = [...new Set(values.filter((v) => v && v !== '--'))].sort((a, b) => a.localeCompare(b));
  $(id).replaceChildren(...all.map((v) => el('option', { value: v })));
}

/** Commands a rule usually names on this instance's engine: PostgreSQL's are backend states. */
function usualCommands() {
  const inst = state.instances.find((i) => i.instance_id === state.instance);
  return inst && inst.datastore_type === 'postgresql'
    ? ['active', 'idle', 'idle in transaction']
    : ['Query', 'Sleep'];
}

/** The db user the rule kills as: the instance's default, or one registered on it. */
function fillDbUsers() {
  const select = $('rule-db-user');
  const users = state.dbUsers.slice().sort((a, b) => a.db_username.localeCompare(b.db_username));
  select.replaceChildren(el('option', { value: '' }, t('instanceDefault')),
    ...users.map((u) => el('option', { value: u.db_user_id }, u.db_username)));
  // The db user the Sessions tab lists with: the preview then shows what that tab shows.
  select.value = state.dbUser || '';
}

function syncDuration() {
  const timed = $('rule-duration-mode').value === 'for';
  $('rule-duration').disabled = !timed;
  $('rule-duration-unit').disabled = !timed;
}

export function openRuleForm() {
  const f = state.ruleForm;
  if (!f.open) {
    f.open = true;
    fillDbUsers();
    // Suggestions from the sessions the Sessions tab has loaded, if any.
    fillList('rule-users', state.sessions.map((p) => p.user));
    fillList('rule-dbs', state.sessions.map((p) => p.database));
    const usual = usualCommands();
    fillList('rule-commands', [...usual, ...state.sessions.map((p) => p.command)]);
    $('rule-command').placeholder = usual.slice(0, 2).join(', ') + '…';
    syncDuration();
    edited();
  }
  $('rule-user').focus();
}

/** Closes the form and forgets what was typed (also when the instance changes). */
export function closeRuleForm() {
  clearTimeout(state.ruleForm.timer);
  state.ruleForm = freshRuleForm();
  $('rule-form').reset();
  syncDuration();
  drawRuleForm();
}

// ---------------------------------------------------------------- drawing

function previewRow(p) {
  const sql = p.sql_info || '';
  return el('tr', { dataset: { id: String(p.id) } },
    el('td', { class: 'mono col-id' }, p.id),
    el('td', { class: 'ellipsis' }, p.user),
    el('td', { class: 'mono ellipsis', title: p.host }, p.host),
    el('td', { class: 'ellipsis' }, p.db),
    el('td', null, p.command),
    el('td', { class: 'mono col-num', title: p.state_duration + ' s' }, duration(p.state_duration)),
    el('td', { class: 'ellipsis state', title: p.state }, p.state),
    el('td', { class: 'mono col-sql', title: sql }, sql));
}

function drawPreview(f, body) {
  const summary = $('rule-preview-summary');
  const at = $('rule-preview-at');
  const warn = $('rule-preview-warn');
  const foot = $('rule-preview-foot');
  const p = f.preview;
  // An answer for the form as it is now; an older one stays on screen, marked as updating.
  const current = p && !f.problem && p.key === previewKey(body);
  summary.className = '';
  warn.replaceChildren();
  foot.textContent = '';
  if (f.problem) {
    summary.textContent = f.problem;
    summary.className = 'muted';
  } else if (f.previewError) {
    summary.textContent = errorText(f.previewError);
    summary.className = 'empty-error';
  } else if (!p) {
    summary.replaceChildren(el('span', { class: 'spinner' }), t('previewChecking'));
  } else {
    const n = p.data.total_count ?? p.data.processes.length;
    const observe = body.mode === 'observe';
    summary.textContent = n === 0 ? t('previewNone')
      : t((observe ? 'previewObserve' : 'previewKill') + (n === 1 ? 'One' : ''), { n });
    summary.className = n > 0 && !observe ? 'preview-hot' : '';
    if (p.data.processes.length < n) foot.textContent = t('previewCapped', { n: p.data.processes.length, total: n });
    if (body.pause_above > 0 && n > body.pause_above && !observe) {
      warn.append(el('div', null, t('previewWouldPause', { n, max: body.pause_above })));
    }
    if (state.rules.switchOn === false) warn.append(el('div', null, t('previewSwitchOff')));
  }
  const snapshot = p && p.data.data_sync_time ? t('snapshotAt', { time: clock(new Date(p.data.data_sync_time)) }) : '';
  at.textContent = [snapshot, f.busy || (p && !current && !f.problem) ? t('updating') : ''].filter(Boolean).join(' · ');
  const rows = p && !f.problem && !f.previewError ? p.data.processes : [];
  $('rule-preview-body').replaceChildren(...rows.map(previewRow));
  show($('rule-preview-wrap'), rows.length > 0);
  show(warn, warn.childNodes.length > 0);
  show(foot, foot.textContent !== '');
}

export function drawRuleForm() {
  const f = state.ruleForm;
  show($('rule-form'), f.open);
  $('rules-new').disabled = f.open;
  if (!f.open) return;
  const { body } = readForm();
  drawPreview(f, body);
  const select = $('rule-db-user');
  if (select.options.length) select.options[0].textContent = t('instanceDefault');
  const readOnly = isReadOnly();
  const note = $('rule-form-readonly');
  note.textContent = readOnly ? t('previewOnly') : '';
  show(note, readOnly);
  const create = $('rule-create');
  create.disabled = readOnly || f.creating || !!f.problem;
  create.textContent = f.creating ? t('creating') : t('createRule');
  const err = $('rule-form-error');
  const denied = f.createError instanceof ApiError && f.createError.status === 403;
  err.textContent = !f.createError ? '' : denied ? t('needOperator') + ' (' + errorText(f.createError) + ')' : errorText(f.createError);
  show(err, !!f.createError);
}

/** The form's controls; `onCreated(task_id)` runs after a rule was created. */
export function wireRuleForm(onCreated) {
  created = onCreated;
  const form = $('rule-form');
  // Every control fires `input` as it changes (typing, a pick from a list or a drop-down).
  form.addEventListener('input', (e) => {
    if (e.target.id === 'rule-duration-mode') syncDuration();
    edited();
  });
  // Only the button creates a rule: Enter in a field must not (the form has no submit button,
  // and a submission from elsewhere is dropped).
  form.addEventListener('submit', (e) => e.preventDefault());
  $('rule-create').addEventListener('click', createRule);
  $('rule-cancel').addEventListener('click', closeRuleForm);
}
