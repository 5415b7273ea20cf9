// What the browser scenarios share: settings from the environment, checks and log lines named
// after the script, Debian's headless Chromium in a fresh profile, signing in to the console and
// choosing the project and instance, and running a scenario under a watchdog, with a screenshot
// of the page when it fails. A scenario passes when it ends without a failure and the page
// reported no script error or CSP violation; it then prints "<script>: ok".

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const STEP_TIMEOUT_MS = 20_000;
const WATCHDOG_MS = 150_000;
const script = path.basename(process.argv[1] || 'browser');

export class Failure extends Error {}

export function check(condition, message) {
  if (!condition) throw new Failure(message);
}

export function log(message) {
  console.log(`${script}: ${message}`);
}

/** A setting from the environment; the script stops (exit 2) when a required one is missing. */
export function setting(name, fallback) {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') {
    console.error(`${script}: ${name} is not set`);
    process.exit(2);
  }
  return value;
}

export const byNumber = (a, b) => Number(a) - Number(b);

export function sameIds(got, want) {
  const a = [...got].sort(byNumber);
  const b = [...want].sort(byNumber);
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

/** Signs in as `user` in English and waits for the console. */
export async function signIn(page, url, user, password) {
  log(`opening ${url}/console as ${user}`);
  await page.goto(`${url}/console`);
  await page.locator('#login-view').waitFor({ state: 'visible' });
  // The page starts in the browser's language; the scenarios read English text.
  await page.locator('#login-view [data-lang=en]').click();
  await page.fill('#login-user', user);
  await page.fill('#login-password', password);
  await page.click('#login-submit');
  await page.locator('#main-view').waitFor({ state: 'visible' });
}

/** Chooses the option labelled `label` once the console has loaded it. */
export async function pickOption(page, select, label) {
  await page.waitForFunction(
    ([sel, text]) => [...document.querySelectorAll(`${sel} option`)].some((o) => o.textContent === text),
    [select, label]);
  await page.selectOption(select, { label });
}

/** Project and instance by name; the instance has one db user, which the console picks itself. */
export async function pickContext(page, project, instance) {
  await pickOption(page, '#project-select', project);
  await pickOption(page, '#instance-select', instance);
  await page.waitForFunction(() => document.getElementById('dbuser-select').value !== '');
}

export async function signOut(page) {
  await page.click('#logout');
  await page.locator('#login-view').waitFor({ state: 'visible' });
}

/**
 * Runs `scenario(page)` in a fresh headless Chromium and exits: 0 when it passed, 1 when it
 * failed (a screenshot of the page goes to `failureShot`).
 */
export async function runScenario({ browser, failureShot, refusals = [] }, scenario) {
  // A hung browser must not hang the test suite.
  const watchdog = setTimeout(() => {
    console.error(`${script}: gave up after ${WATCHDOG_MS / 1000} s`);
    process.exit(1);
  }, WATCHDOG_MS);
  const userDataDir = mkdtempSync(path.join(tmpdir(), 'dbkill-chromium-'));
  mkdirSync(path.dirname(path.resolve(failureShot)), { recursive: true });
  const pageErrors = [];
  let context;
  let page;
  let status = 0;
  try {
    // Never a downloaded browser: Debian's chromium, isolated in a fresh profile, quiet on the
    // network (the machine has none beyond the service under test).
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: browser,
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
    // A CSP violation, a script error or a failed request shows up here; the console must have
    // none, except the refusals a scenario provokes on purpose (`refusals`: HTTP statuses),
    // which the browser logs as "Failed to load resource".
    page.on('pageerror', (e) => pageErrors.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      const failed = /^Failed to load resource: the server responded with a status of (\d+)/.exec(m.text());
      if (failed && refusals.includes(Number(failed[1]))) return;
      pageErrors.push(`console error: ${m.text()}`);
    });
    await scenario(page);
    check(pageErrors.length === 0, `the page reported errors:\n${pageErrors.join('\n')}`);
    log('ok');
  } catch (e) {
    status = 1;
    console.error(`${script}: FAILED: ${e instanceof Failure ? e.message : e.stack || e}`);
    if (pageErrors.length) console.error(pageErrors.join('\n'));
    if (page) {
      await page.screenshot({ path: failureShot, fullPage: true }).catch(() => {});
      console.error(`${script}: the page at the failure: ${failureShot}`);
    }
  } finally {
    if (context) await context.close().catch(() => {});
    rmSync(userDataDir, { recursive: true, force: true });
    clearTimeout(watchdog);
  }
  process.exit(status);
}
