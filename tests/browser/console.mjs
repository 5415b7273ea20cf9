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

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const STEP_TIMEOUT_MS = 20_000;
const WATCHDOG_MS = 150_000;

function setting(name, fallback) {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') {
    console.error(`console.mjs: ${name} is not set`);
    process.exit(2);
  }
  return value;
}

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
const byNumber = (a, b) => Number(a) - Number(b);
const victims = [...cfg.victims].sort(byNumber);

class Failure extends Error {}

function check(condition, message) {
  if (!condition) throw new Failure(message);
}

function sameIds(got, want) {
  const a = [...got].sort(byNumber);
  return a.length === want.length && a.every((id, i) => id === want[i]);
}

function log(message) {
  console.log(`console.mjs: ${message}`);
}

// A hung browser must not hang the test suite.
const watchdog = setTimeout(() => {
  console.error(`console.mjs: gave up after ${WATCHDOG_MS / 1000} s`);
  process.exit(1);
}, WATCHDOG_MS);

const userDataDir = mkdtempSync(path.join(tmpdir(), 'dbkill-chromium-'));
mkdirSync(path.dirname(path.resolve(cfg.screenshot)), { recursive: true });

let context;
let page;
const pageErrors = [];

async function run() {
  check(victims.length > 0, 'DBKILL_CONSOLE_VICTIMS names no session id');
  // Never a downloaded browser: Debian's chromium, isolated in a fresh profile, quiet on the
  // network (the machine has none beyond the service under test).
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: cfg.browser,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
    viewport: { width: 1440, height: 860 },
    locale: 'en-US',
    timezoneId: 'UTC',
  });
  page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  // A CSP violation or a script error shows up here; the console must have none.
  page.on('pageerror', (e) => pageErrors.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(`console error: ${m.text()}`);
  });

  log(`opening ${cfg.url}/console`);
  await page.goto(`${cfg.url}/console`);
  await page.locator('#login-view').waitFor({ state: 'visible' });
  // The page starts in the browser's language; this run reads English text.
  await page.locator('#login-view [data-lang=en]').click();
  await page.fill('#login-user', cfg.user);
  await page.fill('#login-password', cfg.password);
  await page.click('#login-submit');
  await page.locator('#main-view').waitFor({ state: 'visible' });
  const stored = await page.evaluate(() => ({
    session: sessionStorage.getItem('dbkill.token'),
    local: Object.keys(localStorage).filter((k) => /token/i.test(k) || /token/i.test(localStorage.getItem(k) || '')),
    cookies: document.cookie,
  }));
  check(stored.session && stored.session.length > 10, 'the token is not in sessionStorage');
  check(stored.local.length === 0 && stored.cookies === '', `the token leaked: ${JSON.stringify(stored)}`);
  log('signed in');

  await pickOption('#project-select', cfg.project);
  await pickOption('#instance-select', cfg.instance);
  // The instance has one db user: the console picks it by itself.
  await page.waitForFunction(() => document.getElementById('dbuser-select').value !== '');
  log('project, instance and db user chosen');

  for (const id of victims) await row(id).waitFor({ state: 'attached' });
  log(`sessions ${victims.join(', ')} are listed`);

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

  await page.click('#logout');
  await page.locator('#login-view').waitFor({ state: 'visible' });
  check((await page.evaluate(() => sessionStorage.getItem('dbkill.token'))) === null, 'the token outlived the logout');
  check(pageErrors.length === 0, `the page reported errors:\n${pageErrors.join('\n')}`);
  log('ok');
}

function row(id) {
  return page.locator(`#sessions-body tr[data-id="${id}"]`);
}

/** Chooses the option labelled `label` once the console has loaded it. */
async function pickOption(select, label) {
  await page.waitForFunction(
    ([sel, text]) => [...document.querySelectorAll(`${sel} option`)].some((o) => o.textContent === text),
    [select, label]);
  await page.selectOption(select, { label });
}

let status = 0;
try {
  await run();
} catch (e) {
  status = 1;
  console.error(`console.mjs: FAILED: ${e instanceof Failure ? e.message : e.stack || e}`);
  if (pageErrors.length) console.error(pageErrors.join('\n'));
  if (page) {
    await page.screenshot({ path: failureShot, fullPage: true }).catch(() => {});
    console.error(`console.mjs: the page at the failure: ${failureShot}`);
  }
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
  clearTimeout(watchdog);
}
process.exit(status);
