// Drives the dbkill web console in Debian's headless Chromium, as a DBA would: sign in, pick the
// project and instance, find the victim sessions, select exactly them, kill them through the
// dry-run confirmation, read the report and the kill history. Exits non-zero on any failure.
//
// tests/api/console.rs runs it against a throwaway service and mariadbd and then checks on the
// server that exactly the selected sessions died. Settings come from the environment:
//   DBKILL_CONSOLE_URL         base URL of the service, e.g. http://127.0.0.1:8080
//   DBKILL_CONSOLE_USER        user name (default admin)
//   DBKILL_CONSOLE_PASSWORD    its password
//   DBKILL_CONSOLE_PROJECT     project name to pick
//   DBKILL_CONSOLE_INSTANCE    instance name to pick
//   DBKILL_CONSOLE_VICTIMS     comma-separated session ids to select and kill
//   DBKILL_CONSOLE_FILTER_USER optional: filter the table to this database user first, and
//                              expect DBKILL_CONSOLE_EXPECT_ROWS rows (optional) then
//   DBKILL_CONSOLE_SCREENSHOT  PNG of the session table (default target/console.png); the
//                              confirmation dialog goes next to it as <name>-confirm.png
//   DBKILL_CHROMIUM            the browser (default /usr/bin/chromium)

import {
  byNumber, check, log, pickContext, runScenario, sameIds, setting, signIn, signOut,
} from './harness.mjs';

const cfg = {
  url: setting('DBKILL_CONSOLE_URL').replace(/\/+$/, ''),
  user: setting('DBKILL_CONSOLE_USER', 'admin'),
  password: setting('DBKILL_CONSOLE_PASSWORD'),
  project: setting('DBKILL_CONSOLE_PROJECT'),
  instance: setting('DBKILL_CONSOLE_INSTANCE'),
  victims: setting('DBKILL_CONSOLE_VICTIMS').split(',').map((s) => s.trim()).filter(Boolean),
  filterUser: process.env.DBKILL_CONSOLE_FILTER_USER || '',
  expectRows: process.env.DBKILL_CONSOLE_EXPECT_ROWS ? Number(process.env.DBKILL_CONSOLE_EXPECT_ROWS) : null,
  screenshot: setting('DBKILL_CONSOLE_SCREENSHOT', 'target/console.png'),
  browser: setting('DBKILL_CHROMIUM', '/usr/bin/chromium'),
};
const confirmShot = cfg.screenshot.replace(/(\.png)?$/, '-confirm.png');
const failureShot = cfg.screenshot.replace(/(\.png)?$/, '-failure.png');
const victims = [...cfg.victims].sort(byNumber);

let page;

async function run(p) {
  page = p;
  check(victims.length > 0, 'DBKILL_CONSOLE_VICTIMS names no session id');
  await signIn(page, cfg.url, cfg.user, cfg.password);
  const stored = await page.evaluate(() => ({
    session: sessionStorage.getItem('dbkill.token'),
    local: Object.keys(localStorage).filter((k) => /token/i.test(k) || /token/i.test(localStorage.getItem(k) || '')),
    cookies: document.cookie,
  }));
  check(stored.session && stored.session.length > 10, 'the token is not in sessionStorage');
  check(stored.local.length === 0 && stored.cookies === '', `the token leaked: ${JSON.stringify(stored)}`);
  log('signed in');

  await pickContext(page, cfg.project, cfg.instance);
  log('project, instance and db user chosen');

  for (const id of victims) await row(id).waitFor({ state: 'attached' });
  log(`sessions ${victims.join(', ')} are listed`);

  await chooseAgainDuringASlowListing();

  if (cfg.filterUser) {
    await page.waitForFunction(
      (u) => [...document.querySelectorAll('#filter-user option')].some((o) => o.value === u), cfg.filterUser);
    await page.selectOption('#filter-user', cfg.filterUser);
    if (cfg.expectRows !== null) {
      await page.waitForFunction(
        (n) => document.querySelectorAll('#sessions-body tr').length === n, cfg.expectRows);
    }
    const users = await page.$$eval('#sessions-body tr td:nth-child(3)', (tds) => [...new Set(tds.map((td) => td.textContent))]);
    check(sameIds(users, [cfg.filterUser]) || users.length === 0, `the user filter let through ${users.join(', ')}`);
    log(`filtered to user ${cfg.filterUser}`);
  }

  // Sort by id, ascending, then descending (newest sessions, the victims among them, on top).
  for (const [dir, before] of [['ascending', (a, b) => a < b], ['descending', (a, b) => a > b]]) {
    await page.click('#sessions-table th[data-sort=id]');
    const order = await page.$$eval('#sessions-body tr', (trs) => trs.map((tr) => Number(tr.dataset.id)));
    check(order.every((id, i) => i === 0 || before(order[i - 1], id)), `not sorted by id, ${dir}: ${order.join(', ')}`);
  }

  for (const id of victims) {
    await row(id).locator('input[type=checkbox]').check();
  }
  const selected = await page.$$eval('#sessions-body input[type=checkbox]:checked', (boxes) => boxes.map((b) => b.dataset.id));
  check(sameIds(selected, victims), `selected ${selected.join(', ')} instead of ${victims.join(', ')}`);
  check((await page.textContent('#selection-text')).startsWith(`${victims.length} selected`), 'the selection count is wrong');
  await page.mouse.move(0, 0);
  await page.screenshot({ path: cfg.screenshot });
  log(`selected ${victims.join(', ')}; screenshot ${cfg.screenshot}`);

  // The dry run and its confirmation: how many, and which ids.
  await page.click('#kill-connection');
  await page.locator('#kill-dialog[data-phase=confirm]').waitFor({ state: 'visible' });
  const title = await page.textContent('#dialog-title');
  check(title.includes(`Kill ${victims.length} connections`), `confirmation title: ${title}`);
  const listed = (await page.textContent('#confirm-ids')).split(',').map((s) => s.trim());
  check(sameIds(listed, victims), `the confirmation lists ${listed.join(', ')}`);
  const rowsInDialog = await page.$$eval('#dialog-body [data-killed-id]', (trs) => trs.map((tr) => tr.dataset.killedId));
  check(sameIds(rowsInDialog, victims), `the dry run would kill ${rowsInDialog.join(', ')}`);
  await page.screenshot({ path: confirmShot });
  log(`confirmation lists ${listed.join(', ')}; screenshot ${confirmShot}`);

  await page.click('#dialog-confirm');
  await page.locator('#kill-dialog[data-phase=report]').waitFor({ state: 'visible' });
  const killed = await page.$$eval('#dialog-body [data-killed-id]', (trs) => trs.map((tr) => tr.dataset.killedId));
  check(sameIds(killed, victims), `the report says killed ${killed.join(', ')}`);
  const chips = await page.textContent('#kill-report');
  check(chips.includes(`Killed ${victims.length}`) && chips.includes('Failed 0'), `report: ${chips}`);
  log(`report: ${chips.replace(/\s+/g, ' ')}`);
  await page.click('#dialog-cancel');
  await page.locator('#kill-dialog').waitFor({ state: 'hidden' });

  // The next refresh no longer lists them.
  for (const id of victims) await row(id).waitFor({ state: 'detached' });
  log('the killed sessions left the table');

  await page.click('#tab-history');
  for (const id of victims) {
    const entry = page.locator(`#history-body tr[data-session-id="${id}"]`);
    await entry.waitFor({ state: 'attached' });
    const source = (await entry.locator('td').last().textContent()).trim();
    check(source === `console:${cfg.user}`, `history records session ${id} as killed by ${source}`);
  }
  log(`the history shows ${victims.join(', ')} killed by console:${cfg.user}`);

  // Chinese, and back.
  await page.locator('#main-view [data-lang=zh]').click();
  check((await page.textContent('#tab-history')).includes('终止历史'), 'no Chinese after switching');
  check((await page.getAttribute('html', 'lang')) === 'zh-CN', 'html lang is not zh-CN');
  await page.locator('#main-view [data-lang=en]').click();
  check((await page.textContent('#tab-history')).includes('Kill history'), 'no English after switching back');

  await signOut(page);
  check((await page.evaluate(() => sessionStorage.getItem('dbkill.token'))) === null, 'the token outlived the logout');
}

/**
 * The instance chosen again while a listing is still on its way (a slow server): the listing
 * for the new choice starts anyway and fills the table; the late answer for the old one is
 * dropped. (A listing once refused to start while another ran, and the table stayed on
 * "Loading sessions…" for good.)
 */
async function chooseAgainDuringASlowListing() {
  const listing = (url) => url.pathname.endsWith('/processes');
  let held = 0;
  await page.route(listing, async (route) => {
    held += 1;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await route.continue();
  });
  await page.click('#refresh');
  await page.waitForFunction(() => document.getElementById('refresh').disabled);
  await page.selectOption('#instance-select', { label: cfg.instance });
  for (const id of victims) await row(id).waitFor({ state: 'attached' });
  await page.unroute(listing);
  check(held >= 2, `${held} listing(s) went out; the instance chosen again sent none`);
  log('the instance chosen again during a slow listing lists its sessions');
}

function row(id) {
  return page.locator(`#sessions-body tr[data-id="${id}"]`);
}

await runScenario({ browser: cfg.browser, failureShot }, run);
