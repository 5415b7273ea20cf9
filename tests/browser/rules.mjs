// Drives the console's Auto kill tab in Debian's headless Chromium, as a DBA would: turn auto
// kill on, describe a rule whose live preview shows exactly the victim session, create it, watch
// it kill the victim (its counter in the list), stop it, and find the kill in the history under
// the rule's name. Then, optionally, a user who is only a viewer on this project (and an operator
// elsewhere, so the console cannot know beforehand) tries to turn auto kill off: the refusal is
// shown and the tab becomes read-only, while the preview still works. Exits non-zero on any
// failure.
//
// tests/api/console.rs runs it against a throwaway service and mariadbd and checks on the server
// what happened. It prints "rules.mjs: rule <task_id> created". Settings from the environment:
//   DBKILL_CONSOLE_URL, DBKILL_CONSOLE_USER, DBKILL_CONSOLE_PASSWORD, DBKILL_CONSOLE_PROJECT,
//   DBKILL_CONSOLE_INSTANCE, DBKILL_CHROMIUM   as for console.mjs
//   DBKILL_RULES_VICTIM         id of the idle session the rule must kill
//   DBKILL_RULES_VICTIM_USER    its user: the rule's condition
//   DBKILL_RULES_BYSTANDER      id of an idle session of another user, which the preview must not list
//   DBKILL_RULES_NAME           the rule's name
//   DBKILL_RULES_VIEWER, DBKILL_RULES_VIEWER_PASSWORD
//                               optional: the viewer (see above)
//   DBKILL_CONSOLE_SCREENSHOT   PNG of the form with its preview (default target/console-rules.png);
//                               the rules list goes next to it as <name>-list.png, and the
//                               viewer's refusal as <name>-viewer.png

import {
  check, log, pickContext, runScenario, sameIds, setting, signIn, signOut,
} from './harness.mjs';

// The list refreshes every 5 s and the rule ticks every 250 ms in the test: well within this.
const KILL_SEEN_MS = 30_000;

const cfg = {
  url: setting('DBKILL_CONSOLE_URL').replace(/\/+$/, ''),
  user: setting('DBKILL_CONSOLE_USER', 'admin'),
  password: setting('DBKILL_CONSOLE_PASSWORD'),
  project: setting('DBKILL_CONSOLE_PROJECT'),
  instance: setting('DBKILL_CONSOLE_INSTANCE'),
  victim: setting('DBKILL_RULES_VICTIM'),
  victimUser: setting('DBKILL_RULES_VICTIM_USER'),
  bystander: setting('DBKILL_RULES_BYSTANDER'),
  name: setting('DBKILL_RULES_NAME'),
  viewer: process.env.DBKILL_RULES_VIEWER || '',
  viewerPassword: process.env.DBKILL_RULES_VIEWER_PASSWORD || '',
  screenshot: setting('DBKILL_CONSOLE_SCREENSHOT', 'target/console-rules.png'),
  browser: setting('DBKILL_CHROMIUM', '/usr/bin/chromium'),
};
const listShot = cfg.screenshot.replace(/(\.png)?$/, '-list.png');
const viewerShot = cfg.screenshot.replace(/(\.png)?$/, '-viewer.png');
const failureShot = cfg.screenshot.replace(/(\.png)?$/, '-failure.png');

let page;

const text = async (selector) => ((await page.textContent(selector)) || '').trim();
const ruleRow = (taskId) => page.locator(`#rules-body tr[data-task-id="${taskId}"]`);

async function openAutoKill() {
  await page.click('#tab-rules');
  await page.locator('#rules-view').waitFor({ state: 'visible' });
  // The switch is drawn once the server said how it stands.
  await page.waitForFunction(() => !/…/.test(document.getElementById('rules-switch-text').textContent));
}

async function previewIds() {
  return page.$$eval('#rule-preview-body tr', (trs) => trs.map((tr) => tr.dataset.id));
}

async function run(p) {
  page = p;
  await signIn(page, cfg.url, cfg.user, cfg.password);
  await pickContext(page, cfg.project, cfg.instance);
  await openAutoKill();
  check((await text('#rules-switch-text')) === 'Auto kill is OFF', `switch: ${await text('#rules-switch-text')}`);
  check(!(await page.isChecked('#rules-switch')), 'the switch is drawn on');
  check((await text('#rules-empty')).includes('No kill rule'), `rules: ${await text('#rules-empty')}`);

  // ON (no rule runs yet, so no question is asked).
  await page.click('#rules-switch-label');
  await page.waitForFunction(() => document.getElementById('rules-switch').checked);
  await page.waitForFunction(() => document.getElementById('rules-switch-text').textContent === 'Auto kill is ON');
  log('auto kill switched on');

  // The form: nothing is previewed before it has a minimum time.
  await page.click('#rules-new');
  await page.locator('#rule-form').waitFor({ state: 'visible' });
  check((await text('#rule-preview-summary')).startsWith('Enter the minimum time'),
    `preview before a time: ${await text('#rule-preview-summary')}`);
  check(await page.isDisabled('#rule-create'), 'Create is enabled without a time');

  await page.fill('#rule-name', cfg.name);
  await page.fill('#rule-user', cfg.victimUser);
  await page.fill('#rule-command', 'Sleep');
  await page.fill('#rule-time', '1');
  await page.locator(`#rule-preview-body tr[data-id="${cfg.victim}"]`).waitFor({ state: 'attached' });
  const previewed = await previewIds();
  check(sameIds(previewed, [cfg.victim]), `the preview lists ${previewed.join(', ')} instead of ${cfg.victim}`);
  check(!previewed.includes(cfg.bystander), 'the preview lists the bystander');
  const summary = await text('#rule-preview-summary');
  check(summary === 'The rule would kill 1 session now.', `preview summary: ${summary}`);
  await page.mouse.move(0, 0);
  await page.screenshot({ path: cfg.screenshot, fullPage: true });
  log(`the live preview shows session ${cfg.victim} only; screenshot ${cfg.screenshot}`);

  // An edit that excludes it empties the preview; undoing it brings it back.
  await page.fill('#rule-command', 'Query');
  await page.waitForFunction(() => document.querySelectorAll('#rule-preview-body tr').length === 0
    && document.getElementById('rule-preview-summary').textContent === 'The rule would kill no session now.');
  await page.fill('#rule-command', 'Sleep');
  await page.locator(`#rule-preview-body tr[data-id="${cfg.victim}"]`).waitFor({ state: 'attached' });
  log('the preview follows the edits');

  await page.click('#rule-create');
  await page.locator('#rule-form').waitFor({ state: 'hidden' });
  const row = page.locator('#rules-body tr', { has: page.locator('td.rule-name', { hasText: cfg.name }) });
  await row.waitFor({ state: 'attached' });
  const taskId = await row.getAttribute('data-task-id');
  check(/^\d+$/.test(taskId || ''), `task id ${taskId}`);
  log(`rule ${taskId} created`);
  check((await row.getAttribute('data-state')) === 'running', `state ${await row.getAttribute('data-state')}`);
  check((await row.locator('.rule-state').textContent()) === 'running', 'the state is not in words');
  const conditions = (await row.locator('td.conditions').textContent()) || '';
  for (const part of [`user = ${cfg.victimUser}`, 'command = Sleep', 'time ≥ 1s']) {
    check(conditions.includes(part), `conditions lack "${part}": ${conditions}`);
  }
  check((await row.locator('td').nth(9).textContent()) === 'until stopped', 'the end is not "until stopped"');

  // The runner kills the victim; the list, refreshing itself, shows it counted.
  await page.waitForFunction((id) => {
    const cell = document.querySelector(`#rules-body tr[data-task-id="${id}"] [data-counter=killed]`);
    return cell && Number(cell.textContent) >= 1;
  }, taskId, { timeout: KILL_SEEN_MS });
  const killed = Number(await ruleRow(taskId).locator('[data-counter=killed]').textContent());
  const matched = Number(await ruleRow(taskId).locator('[data-counter=matched]').textContent());
  check(matched >= killed, `matched ${matched} < killed ${killed}`);
  check((await ruleRow(taskId).locator('td').nth(7).textContent()) !== '—', 'no last kill time');
  await page.mouse.move(0, 0);
  await page.screenshot({ path: listShot, fullPage: true });
  log(`rule ${taskId} killed ${killed} (matched ${matched}); screenshot ${listShot}`);

  // Stop, through the question.
  await ruleRow(taskId).locator('button[data-action=stop]').click();
  await page.locator('#ask-dialog').waitFor({ state: 'visible' });
  check((await text('#ask-title')) === `Stop rule "${cfg.name}"?`, `question: ${await text('#ask-title')}`);
  await page.click('#ask-ok');
  await page.locator('#ask-dialog').waitFor({ state: 'hidden' });
  await page.waitForFunction((id) => {
    const tr = document.querySelector(`#rules-body tr[data-task-id="${id}"]`);
    return tr && tr.dataset.state === 'stopped';
  }, taskId);
  check((await ruleRow(taskId).locator('button').count()) === 0, 'a stopped rule still has a Stop button');
  log(`rule ${taskId} stopped`);

  // The history names the rule.
  await page.click('#tab-history');
  const entry = page.locator(`#history-body tr[data-session-id="${cfg.victim}"]`);
  await entry.waitFor({ state: 'attached' });
  const source = ((await entry.locator('td').last().textContent()) || '').trim();
  check(source === `rule:${taskId} (${cfg.name})`, `history source: ${source}`);
  log(`the history shows session ${cfg.victim} killed by ${source}`);

  // Chinese, and back.
  await page.locator('#main-view [data-lang=zh]').click();
  check((await text('#tab-rules')).startsWith('自动终止会话'), `tab in Chinese: ${await text('#tab-rules')}`);
  await page.locator('#main-view [data-lang=en]').click();
  check((await text('#tab-rules')).startsWith('Auto kill'), 'no English after switching back');
  await signOut(page);

  if (cfg.viewer) await asViewer(taskId);
}

/** A viewer here: the switch refuses nicely, the tab turns read-only, the preview still works. */
async function asViewer(taskId) {
  await signIn(page, cfg.url, cfg.viewer, cfg.viewerPassword);
  await pickContext(page, cfg.project, cfg.instance);
  await openAutoKill();
  check((await text('#rules-switch-text')) === 'Auto kill is ON', `viewer sees ${await text('#rules-switch-text')}`);
  await ruleRow(taskId).waitFor({ state: 'attached' });
  check((await ruleRow(taskId).getAttribute('data-state')) === 'stopped', 'the viewer does not see the rule stopped');

  // An operator elsewhere: the console lets it try, and says why the server refused.
  check(!(await page.isDisabled('#rules-switch')), 'the switch is read-only before any refusal');
  await page.click('#rules-switch-label');
  await page.locator('#rules-notice').waitFor({ state: 'visible' });
  const notice = await text('#rules-notice-text');
  check(notice === 'This needs the operator role on this project.', `notice: ${notice}`);
  check((await text('#rules-notice-detail')).startsWith('APIGW.0302'), `detail: ${await text('#rules-notice-detail')}`);
  await page.waitForFunction(() => document.getElementById('rules-switch').disabled);
  check(await page.isChecked('#rules-switch'), 'the refused switch is drawn off');
  check((await text('#rules-switch-text')) === 'Auto kill is ON', 'the refused switch says OFF');
  log('the viewer was refused, and the tab is read-only');

  // A viewer may preview: the victim is gone, so the same rule would kill nothing now.
  await page.click('#rules-new');
  await page.fill('#rule-user', cfg.victimUser);
  await page.fill('#rule-time', '1');
  await page.waitForFunction(
    () => document.getElementById('rule-preview-summary').textContent === 'The rule would kill no session now.');
  check(await page.isDisabled('#rule-create'), 'a viewer may press Create');
  check((await text('#rule-form-readonly')).startsWith('Read-only'), 'no read-only note');
  await page.mouse.move(0, 0);
  await page.screenshot({ path: viewerShot, fullPage: true });
  log(`the viewer previews, and cannot create; screenshot ${viewerShot}`);
  await signOut(page);
}

await runScenario({ browser: cfg.browser, failureShot, refusals: cfg.viewer ? [403] : [] }, run);
