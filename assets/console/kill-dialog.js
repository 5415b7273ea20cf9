// The kill dialog: a dry run of the selected sessions first, then a confirmation that names
// exactly the ids to be killed, then the kill and its report (killed, skipped, not found, failed).
import { ApiError, api, enc, instancePath } from './api.js';
import { $, byId, duration, el, show } from './dom.js';
import { refreshSessions } from './sessions.js';
import { state, t } from './state.js';

export function closeDialog(force) {
  // A kill under way stays on screen: its report is what the DBA needs to see.
  if (force !== true && state.dialog && state.dialog.phase === 'killing') return;
  const d = $('kill-dialog');
  if (d.open) d.close();
  state.dialog = null;
}

function dialogButtons(cancelText, confirmText, confirmEnabled) {
  const cancel = $('dialog-cancel');
  const confirm = $('dialog-confirm');
  cancel.textContent = cancelText;
  show(confirm, !!confirmText);
  confirm.textContent = confirmText || '';
  confirm.disabled = !confirmEnabled;
}

function sessionTable(rows, withGone) {
  const head = [['colId'], ['colUser'], ['colHost'], ['colDatabase'], ['colCommand'], ['colTime', 'col-num'], ['colSql', 'col-sql']];
  if (withGone) head.push(['colGone']);
  const sorted = rows.slice().sort((a, b) => byId(a.id, b.id));
  return el('div', { class: 'dialog-table-wrap' }, el('table', { class: 'grid grid-compact' },
    el('thead', null, el('tr', null, ...head.map(([key, cls]) => el('th', { class: cls }, t(key))))),
    el('tbody', null, ...sorted.map((k) => el('tr', { dataset: { killedId: k.id } },
      el('td', { class: 'mono col-id' }, k.id),
      el('td', null, k.user),
      el('td', { class: 'mono' }, k.host),
      el('td', null, k.database),
      el('td', null, k.command),
      el('td', { class: 'mono col-num' }, duration(k.time)),
      el('td', { class: 'mono col-sql', title: k.sql }, k.sql),
      withGone ? el('td', { class: k.gone ? 'ok' : 'warn' }, k.gone ? t('yes') : t('stillListed')) : null)))));
}

function skippedList(skipped) {
  return el('ul', { class: 'plain-list' }, ...skipped.map((s) => el('li', { dataset: { skippedId: s.id } },
    el('code', null, s.id), ' ', s.user ? el('span', { class: 'muted' }, s.user) : null, ' — ', t('reason_' + s.reason))));
}

function section(title, cls, ...content) {
  return el('div', { class: 'dialog-section ' + (cls || '') }, el('h3', null, title), ...content);
}

function killTypeText(killType, n) {
  return killType === 'query' ? t('killQueryN', { n }) : t('killConnectionN', { n });
}

async function startKill(killType) {
  const ids = [...state.selected].sort(byId);
  if (!ids.length) return;
  const ctx = { project: state.project, instance: state.instance, dbUser: state.dbUser, generation: state.generation };
  state.dialog = { ids, killType, ctx, phase: 'dry-run' };
  const d = $('kill-dialog');
  d.dataset.phase = 'dry-run';
  $('dialog-title').textContent = t('dryRunTitle');
  $('dialog-body').replaceChildren(el('p', { class: 'muted' }, el('span', { class: 'spinner' }), t('dryRunRunning', { n: ids.length })));
  dialogButtons(t('cancel'), killTypeText(killType, ids.length), false);
  if (!d.open) d.showModal();
  try {
    const { data } = await api('DELETE', instancePath() + '/process', {
      db_user_id: ctx.dbUser, process_ids: ids, dry_run: true, kill_type: killType,
    });
    if (state.dialog === null || state.dialog.ids !== ids) return;
    drawConfirm(data);
  } catch (e) {
    if (state.dialog === null || state.dialog.ids !== ids) return;
    drawDialogError(e);
  }
}

function drawConfirm(report) {
  const { ids, killType } = state.dialog;
  state.dialog.phase = 'confirm';
  $('kill-dialog').dataset.phase = 'confirm';
  const n = report.killed.length;
  const body = $('dialog-body');
  const titleKey = (killType === 'query' ? 'confirmTitleQuery' : 'confirmTitleConnection') + (n === 1 ? 'One' : '');
  $('dialog-title').textContent = t(titleKey, { n });
  const parts = [];
  parts.push(el('p', { class: 'lead' }, killType === 'query' ? t('confirmLeadQuery') : t('confirmLeadConnection')));
  parts.push(el('div', { class: 'id-box' },
    el('span', { class: 'id-box-label' }, t('idsToKill', { n })),
    el('code', { id: 'confirm-ids' }, report.killed.map((k) => k.id).sort(byId).join(', ') || '—')));
  if (n) parts.push(sessionTable(report.killed, false));
  if (report.skipped.length) {
    parts.push(section(t('skippedTitle', { n: report.skipped.length }), 'warn-section', skippedList(report.skipped)));
  }
  if (report.not_found.length) {
    parts.push(section(t('notFoundTitle', { n: report.not_found.length }), 'muted-section',
      el('p', null, el('code', null, report.not_found.join(', ')), ' — ', t('notFoundHint'))));
  }
  if (!n) parts.push(el('div', { class: 'alert alert-info' }, t('nothingToKill')));
  const targets = report.killed.map((k) => k.id).sort(byId);
  if (targets.join() !== ids.join()) {
    parts.push(el('p', { class: 'muted small' }, t('selectedWere', { n: ids.length, ids: ids.join(', ') })));
  }
  body.replaceChildren(...parts);
  dialogButtons(t('cancel'), killTypeText(killType, n), n > 0);
  if (n > 0) $('dialog-cancel').focus();
}

async function confirmKill() {
  const dlg = state.dialog;
  if (!dlg || dlg.phase !== 'confirm') return;
  dlg.phase = 'killing';
  $('kill-dialog').dataset.phase = 'killing';
  const confirm = $('dialog-confirm');
  confirm.disabled = true;
  confirm.textContent = t('killing');
  $('dialog-cancel').disabled = true;
  try {
    const { data } = await api('DELETE', '/v3/' + enc(dlg.ctx.project) + '/instances/' + enc(dlg.ctx.instance) + '/process', {
      db_user_id: dlg.ctx.dbUser, process_ids: dlg.ids, kill_type: dlg.killType,
    });
    if (state.dialog !== dlg) return;
    drawReport(data);
  } catch (e) {
    if (state.dialog !== dlg) return;
    drawDialogError(e);
  } finally {
    $('dialog-cancel').disabled = false;
    for (const id of dlg.ids) state.selected.delete(id);
    if (dlg.ctx.generation === state.generation) refreshSessions();
  }
}

function drawReport(report) {
  state.dialog.phase = 'report';
  $('kill-dialog').dataset.phase = 'report';
  const killed = report.killed;
  const gone = killed.filter((k) => k.gone).length;
  $('dialog-title').textContent = t('reportTitle');
  const chips = el('div', { class: 'report-chips', id: 'kill-report' },
    el('span', { class: 'chip chip-ok' }, t('reportKilled', { n: killed.length, gone })),
    el('span', { class: 'chip' + (report.skipped.length ? ' chip-warn' : '') }, t('reportSkipped', { n: report.skipped.length })),
    el('span', { class: 'chip' }, t('reportNotFound', { n: report.not_found.length })),
    el('span', { class: 'chip' + (report.failed.length ? ' chip-bad' : '') }, t('reportFailed', { n: report.failed.length })));
  const parts = [chips];
  if (killed.length) parts.push(section(t('killedTitle', { n: killed.length }), '', sessionTable(killed, true)));
  if (killed.length && gone < killed.length) parts.push(el('p', { class: 'muted small' }, t('goneHint')));
  if (report.failed.length) {
    parts.push(section(t('failedTitle', { n: report.failed.length }), 'bad-section',
      el('ul', { class: 'plain-list' }, ...report.failed.map((f) => el('li', { dataset: { failedId: f.id } },
        el('code', null, f.id), ' — ', el('strong', null, f.error_code), ': ', f.error_msg)))));
  }
  if (report.skipped.length) {
    parts.push(section(t('skippedTitle', { n: report.skipped.length }), 'warn-section', skippedList(report.skipped)));
  }
  if (report.not_found.length) {
    parts.push(section(t('notFoundTitle', { n: report.not_found.length }), 'muted-section',
      el('p', null, el('code', null, report.not_found.join(', ')))));
  }
  parts.push(el('p', { class: 'muted small' }, t('requestId') + ': ', el('code', null, report.request_id)));
  $('dialog-body').replaceChildren(...parts);
  dialogButtons(t('close'), null, false);
  $('dialog-cancel').focus();
}

function drawDialogError(err) {
  if (state.dialog) state.dialog.phase = 'error';
  $('kill-dialog').dataset.phase = 'error';
  $('dialog-title').textContent = t('killFailedTitle');
  $('dialog-body').replaceChildren(el('div', { class: 'alert alert-error', id: 'dialog-error' },
    err instanceof ApiError ? err.code + ': ' + err.msg : String(err)));
  dialogButtons(t('close'), null, false);
}

/** After a change of language. */
export function relabelDialog() {
  const d = state.dialog;
  // The dialog's text is drawn from a server answer in the old language: say only what it is.
  if (d && d.phase === 'dry-run') $('dialog-title').textContent = t('dryRunTitle');
}

/** The kill buttons and the dialog's own. */
export function wireKillDialog() {
  $('kill-connection').addEventListener('click', () => startKill('connection'));
  $('kill-query').addEventListener('click', () => startKill('query'));
  $('dialog-confirm').addEventListener('click', confirmKill);
  $('dialog-cancel').addEventListener('click', closeDialog);
  $('dialog-x').addEventListener('click', closeDialog);
  $('kill-dialog').addEventListener('cancel', (e) => {
    if (state.dialog && state.dialog.phase === 'killing') e.preventDefault();
    else state.dialog = null;
  });
}
