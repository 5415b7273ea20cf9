// The web console on a PostgreSQL instance, in Debian's headless Chromium: sign in, pick the
// project and the instance, see the backends with PostgreSQL's states as their command (`idle`,
// `active`, `idle in transaction`) and wait events as their state, hide the idle ones and only
// them, then select two idle backends, kill them through the dry-run confirmation and find them
// in the kill history. Exits non-zero on any failure.
//
// tests/api/pg/console.rs runs it against a throwaway service and PostgreSQL cluster and then
// checks on the server that exactly the two selected backends ended. Settings come from the
// environment:
//   DBKILL_CONSOLE_URL         base URL of the service
//   DBKILL_CONSOLE_USER        user name (default admin)
//   DBKILL_CONSOLE_PASSWORD    its password
//   DBKILL_CONSOLE_PROJECT     project name to pick
//   DBKILL_CONSOLE_INSTANCE    instance name to pick (a postgresql instance)
//   DBKILL_CONSOLE_FILTER_USER the victims' role: the table is filtered to it
//   DBKILL_CONSOLE_VICTIMS     comma-separated pids of idle backends to select and kill
//   DBKILL_CONSOLE_IDLE        comma-separated pids of the role's other idle backends
//   DBKILL_CONSOLE_ACTIVE      pid of the role's backend running pg_sleep
//   DBKILL_CONSOLE_IN_TRX      pid of the role's backend idle in a transaction
//   DBKILL_CONSOLE_SCREENSHOT  PNG of the session table (default target/console-pg.png)
//   DBKILL_CHROMIUM            the browser (default /usr/bin/chromium)

import {
  byNumber, check, log, pickContext, runScenario, sameIds, setting, signIn, signOut,
} from './harness.mjs';

const list = (name) => (process.env[name] || '').split(',').map((s) => s.trim()).filter(Boolean);

const cfg = {
  url: setting('DBKILL_CONSOLE_URL').replace(/\/+$/, ''),
  user: setting('DBKILL_CONSOLE_USER', 'admin'),
  password: setting('DBKILL_CONSOLE_PASSWORD'),
  project: setting('DBKILL_CONSOLE_PROJECT'),
  instance: setting('DBKILL_CONSOLE_INSTANCE'),
  filterUser: setting('DBKILL_CONSOLE_FILTER_USER'),
  victims: list('DBKILL_CONSOLE_VICTIMS').sort(byNumber),
  idle: list('DBKILL_CONSOLE_IDLE'),
  active: setting('DBKILL_CONSOLE_ACTIVE'),
  inTrx: setting('DBKILL_CONSOLE_IN_TRX'),
  screenshot: setting('DBKILL_CONSOLE_SCREENSHOT', 'target/console-pg.png'),
  browser: setting('DBKILL_CHROMIUM', '/usr/bin/chromium'),
};
const failureShot = cfg.screenshot.replace(/(\.png)?$/, '-failure.png');
const idle = [...cfg.victims, ...cfg.idle];
const all = [...idle, cfg.active, cfg.inTrx];

let page;

function row(id) {
  return page.locator(`#sessions-body tr[data-id="${id}"]`);
}

/** The text of column `n` (1-based, the checkbox is 1) of the row of session `id`. */
async function cell(id, n) {
  return (await row(id).locator(`td:nth-child(${n})`).textContent()).trim();
}

const shownIds = () => page.$$eval('#sessions-body tr', (trs) => trs.map((tr) => tr.dataset.id));

async function waitForRows(ids) {
  await page.waitForFunction(
    (want) => {
      const got = [...document.querySelectorAll('#sessions-body tr')].map((tr) => tr.dataset.id).sort();
      return got.length === want.length && got.every((id, i) => id === want[i]);
    },
    [...ids].sort());
}

async function run(p) {
  page = p;
  check(cfg.victims.length === 2, 'DBKILL_CONSOLE_VICTIMS must name two pids');
  await signIn(page, cfg.url, cfg.user, cfg.password);
  await pickContext(page, cfg.project, cfg.instance);
  const tag = (await page.textContent('#instance-info .tag')).trim();
  check(tag === 'postgresql', `the instance is shown as ${tag}`);
  log('signed in; PostgreSQL instance and its db user chosen');

  await page.waitForFunction(
    (u) => [...document.querySelectorAll('#filter-user option')].some((o) => o.value === u), cfg.filterUser);
  await page.selectOption('#filter-user', cfg.filterUser);
  await waitForRows(all);
  log(`backends ${all.join(', ')} of ${cfg.filterUser} are listed, and only they`);

  // PostgreSQL's backend state is the command, its wait event the state.
  for (const id of idle) {
    check((await cell(id, 6)) === 'idle', `backend ${id}: command ${await cell(id, 6)}`);
    check(await row(id).evaluate((tr) => tr.classList.contains('sleeping')), `idle backend ${id} is not dimmed`);
  }
  check((await cell(cfg.active, 6)) === 'active', `pg_sleep backend: command ${await cell(cfg.active, 6)}`);
  check((await cell(cfg.active, 8)) === 'Timeout:PgSleep', `pg_sleep backend: state ${await cell(cfg.active, 8)}`);
  check((await cell(cfg.active, 10)).includes('pg_sleep(600)'), 'the pg_sleep backend shows no SQL');
  check((await cell(cfg.inTrx, 6)) === 'idle in transaction', `backend ${cfg.inTrx}: command ${await cell(cfg.inTrx, 6)}`);
  for (const id of [cfg.active, cfg.inTrx]) {
    check(!(await row(id).evaluate((tr) => tr.classList.contains('sleeping'))), `busy backend ${id} is dimmed`);
  }
  const host = await cell(cfg.active, 4);
  check(/^127\.0\.0\.1:\d+$/.test(host), `host ${host}`);
  log('commands idle / active / idle in transaction, state Timeout:PgSleep');

  // "Hide idle" hides exactly the idle backends; one in a transaction stays in view.
  await page.check('#filter-hide-sleep');
  await waitForRows([cfg.active, cfg.inTrx]);
  await page.uncheck('#filter-hide-sleep');
  await waitForRows(all);
  log('hiding idle backends left the active one and the one in a transaction');

  // The command filter offers PostgreSQL's states.
  await page.selectOption('#filter-command', 'idle in transaction');
  await waitForRows([cfg.inTrx]);
  await page.selectOption('#filter-command', '');
  await waitForRows(all);

  for (const id of cfg.victims) await row(id).locator('input[type=checkbox]').check();
  const selected = await page.$$eval('#sessions-body input[type=checkbox]:checked', (boxes) => boxes.map((b) => b.dataset.id));
  check(sameIds(selected, cfg.victims), `selected ${selected.join(', ')} instead of ${cfg.victims.join(', ')}`);
  await page.mouse.move(0, 0);
  await page.screenshot({ path: cfg.screenshot });
  log(`selected ${cfg.victims.join(', ')}; screenshot ${cfg.screenshot}`);

  await page.click('#kill-connection');
  await page.locator('#kill-dialog[data-phase=confirm]').waitFor({ state: 'visible' });
  const title = await page.textContent('#dialog-title');
  check(title.includes('Kill 2 connections'), `confirmation title: ${title}`);
  const listed = (await page.textContent('#confirm-ids')).split(',').map((s) => s.trim());
  check(sameIds(listed, cfg.victims), `the confirmation lists ${listed.join(', ')}`);

  await page.click('#dialog-confirm');
  await page.locator('#kill-dialog[data-phase=report]').waitFor({ state: 'visible' });
  const killed = await page.$$eval('#dialog-body [data-killed-id]', (trs) => trs.map((tr) => tr.dataset.killedId));
  check(sameIds(killed, cfg.victims), `the report says killed ${killed.join(', ')}`);
  const chips = await page.textContent('#kill-report');
  check(chips.includes('Killed 2 (gone 2)') && chips.includes('Failed 0'), `report: ${chips}`);
  log(`report: ${chips.replace(/\s+/g, ' ')}`);
  await page.click('#dialog-cancel');
  await page.locator('#kill-dialog').waitFor({ state: 'hidden' });

  const rest = all.filter((id) => !cfg.victims.includes(id));
  await waitForRows(rest);
  check(sameIds(await shownIds(), rest), 'the table changed beyond the two killed');
  log('the killed backends left the table; the others stay');

  await page.click('#tab-history');
  for (const id of cfg.victims) {
    const entry = page.locator(`#history-body tr[data-session-id="${id}"]`);
    await entry.waitFor({ state: 'attached' });
    const source = (await entry.locator('td').last().textContent()).trim();
    check(source === `console:${cfg.user}`, `history records backend ${id} as killed by ${source}`);
  }
  const historyRows = await page.$$eval('#history-body tr', (trs) => trs.map((tr) => tr.dataset.sessionId));
  check(sameIds(historyRows, cfg.victims), `the history lists ${historyRows.join(', ')}`);
  log(`the history shows ${cfg.victims.join(', ')} killed by console:${cfg.user}`);

  await signOut(page);
}

await runScenario({ browser: cfg.browser, failureShot }, run);
