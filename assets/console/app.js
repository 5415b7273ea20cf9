// dbkill web console: plain JavaScript modules, no build step, no third-party code. This is the
// entry (index.html loads it as a module): signing in and out, choosing the project, instance and
// db user, the tabs and the language, and wiring the page's controls to the other modules:
//   state.js        the state, what is kept in the browser's storage, t() for text
//   i18n.js         every string the page shows, in English and Chinese
//   api.js          the token and every call to the DAS API
//   dom.js          DOM helpers, formatting and the error banner
//   sessions.js     the Sessions tab: refresh, filters, counts, table, selection
//   kill-dialog.js  dry run, confirmation and report of a kill
//   rules.js        the Auto kill tab: the switch, the kill rules, stopping one
//   rule-form.js    creating a kill rule, with the live preview of what it would kill
//   ask.js          a yes/no question in a modal
//   history.js      the Kill history tab
//
// It is an ordinary client of dbkill's DAS API: it logs in with POST /v3/auth/tokens, keeps the
// token in sessionStorage only (gone with the tab, never sent by the browser on its own), and
// sends X-Dbkill-Console: 1 so kills made here are recorded as "console:<user>".
// Every value that comes from a database is put into the page as text, never as HTML.
import { ApiError, api, dropToken, enc, fetchAll, instancePath, keepToken, whenSignedOut } from './api.js';
import { closeAsk, wireAsk } from './ask.js';
import { $, el, hideBanner, show, showBanner } from './dom.js';
import { drawHistory, loadHistory, wireHistory } from './history.js';
import { closeDialog, relabelDialog, wireKillDialog } from './kill-dialog.js';
import { drawRules, enterRules, leaveRules, resetRules, wireRules } from './rules.js';
import { drawSessions, refreshSessions, stopTimer, wireSessions } from './sessions.js';
import { CTX_KEY, LANG_KEY, ROLES_KEY, WHO_KEY, state, t } from './state.js';

// ---------------------------------------------------------------- text

function applyStaticText() {
  document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
  document.title = t('pageTitle');
  for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll('[data-i18n-placeholder]')) node.placeholder = t(node.dataset.i18nPlaceholder);
  for (const node of document.querySelectorAll('[data-i18n-title]')) node.title = t(node.dataset.i18nTitle);
  for (const b of document.querySelectorAll('[data-lang]')) b.classList.toggle('active', b.dataset.lang === state.lang);
}

// ---------------------------------------------------------------- sign-in and out

function showLogin(err) {
  stopTimer();
  leaveRules();
  show($('main-view'), false);
  show($('login-view'), true);
  $('login-server').textContent = location.origin;
  const box = $('login-error');
  box.textContent = err ? (err instanceof ApiError ? err.code + ': ' + err.msg : String(err)) : '';
  show(box, !!err);
  ($('login-user').value ? $('login-password') : $('login-user')).focus();
}

function signedOut(err) {
  dropToken();
  closeDialog(true);
  closeAsk();
  showLogin(err);
}

async function login(event) {
  event.preventDefault();
  const name = $('login-user').value.trim();
  const password = $('login-password').value;
  if (!name || !password) {
    showLogin(new Error(t('loginMissing')));
    return;
  }
  const button = $('login-submit');
  button.disabled = true;
  button.textContent = t('signingIn');
  try {
    const { data, resp } = await api('POST', '/v3/auth/tokens', {
      auth: { identity: { methods: ['password'], password: { user: { name, password } } } },
    });
    const token = resp.headers.get('X-Subject-Token');
    if (!token) throw new Error(t('noTokenHeader'));
    state.who = (data && data.token && data.token.user && data.token.user.name) || name;
    state.roles = ((data && data.token && data.token.roles) || []).map((r) => r.name);
    keepToken(token);
    sessionStorage.setItem(WHO_KEY, state.who);
    sessionStorage.setItem(ROLES_KEY, JSON.stringify(state.roles));
    $('login-password').value = '';
    await enterConsole();
  } catch (e) {
    showLogin(e);
  } finally {
    button.disabled = false;
    button.textContent = t('signIn');
  }
}

async function logout() {
  const token = state.token;
  try {
    if (token) await api('DELETE', '/v3/auth/tokens', undefined, { 'X-Subject-Token': token });
  } catch (e) {
    // Signing out locally still matters when the server cannot be told.
  }
  sessionStorage.removeItem(CTX_KEY);
  state.project = state.instance = state.dbUser = '';
  signedOut(null);
}

// ---------------------------------------------------------------- project / instance / db user

function savedContext() {
  try {
    return JSON.parse(sessionStorage.getItem(CTX_KEY)) || {};
  } catch (e) {
    return {};
  }
}

function saveContext() {
  sessionStorage.setItem(CTX_KEY, JSON.stringify({
    project: state.project, instance: state.instance, dbUser: state.dbUser,
  }));
}

function fillSelect(select, items, value, placeholder) {
  select.replaceChildren();
  if (placeholder) select.append(el('option', { value: '' }, placeholder));
  for (const [v, label] of items) select.append(el('option', { value: v }, label));
  select.value = value;
  select.disabled = items.length === 0;
}

function drawPickers() {
  fillSelect($('project-select'), state.projects.map((p) => [p.id, p.name]), state.project,
    state.projects.length ? t('chooseProject') : t('none'));
  fillSelect($('instance-select'), state.instances.map((i) => [i.instance_id, i.name]), state.instance,
    state.instances.length ? t('chooseInstance') : state.project ? t('none') : '—');
  fillSelect($('dbuser-select'), state.dbUsers.map((u) => [u.db_user_id, u.db_username]), state.dbUser,
    state.dbUsers.length ? t('chooseDbUser') : state.instance ? t('none') : '—');
  const inst = state.instances.find((i) => i.instance_id === state.instance);
  const info = $('instance-info');
  info.replaceChildren();
  if (inst) {
    info.append(
      el('span', { class: 'tag' }, inst.datastore_type),
      el('code', null, inst.host + ':' + inst.port),
    );
    if (inst.protected_users && inst.protected_users.length) {
      info.append(el('span', { class: 'muted' }, t('protectedUsers') + ': ' + inst.protected_users.join(', ')));
    }
  }
}

async function enterConsole() {
  show($('login-view'), false);
  show($('main-view'), true);
  $('whoami').textContent = state.who;
  applyStaticText();
  const saved = savedContext();
  try {
    const { data } = await api('GET', '/v3/projects');
    state.projects = (data.projects || []).slice().sort((a, b) => a.name.localeCompare(b.name));
  } catch (e) {
    if (e.status !== 401) showBanner(e);
    return;
  }
  const keep = state.projects.find((p) => p.id === saved.project);
  const only = state.projects.length === 1 ? state.projects[0] : null;
  await chooseProject(keep ? keep.id : only ? only.id : '', saved);
}

async function chooseProject(id, saved) {
  state.generation++;
  state.project = id;
  state.instances = [];
  state.instance = '';
  state.dbUsers = [];
  state.dbUser = '';
  resetSessions();
  drawPickers();
  drawAll();
  if (!id) return;
  const gen = state.generation;
  try {
    const rows = await fetchAll('/v3/' + enc(id) + '/instances', 'instances');
    if (gen !== state.generation) return;
    state.instances = rows.sort((a, b) => a.name.localeCompare(b.name));
  } catch (e) {
    if (gen === state.generation) showBanner(e);
    return;
  }
  const keep = saved && state.instances.find((i) => i.instance_id === saved.instance);
  const only = state.instances.length === 1 ? state.instances[0] : null;
  await chooseInstance(keep ? keep.instance_id : only ? only.instance_id : '', saved);
}

async function chooseInstance(id, saved) {
  state.generation++;
  state.instance = id;
  state.dbUsers = [];
  state.dbUser = '';
  resetSessions();
  drawPickers();
  drawAll();
  if (!id) {
    saveContext();
    return;
  }
  const gen = state.generation;
  try {
    const rows = await fetchAll(instancePath() + '/db-users', 'db_users');
    if (gen !== state.generation) return;
    state.dbUsers = rows;
  } catch (e) {
    if (gen === state.generation) showBanner(e);
    return;
  }
  const keep = saved && state.dbUsers.find((u) => u.db_user_id === saved.dbUser);
  const only = state.dbUsers.length === 1 ? state.dbUsers[0] : null;
  chooseDbUser(keep ? keep.db_user_id : only ? only.db_user_id : '');
}

function chooseDbUser(id) {
  state.generation++;
  state.dbUser = id;
  resetSessions();
  saveContext();
  drawPickers();
  drawAll();
  if (id) {
    hideBanner();
    refreshSessions();
    if (state.tab === 'history') loadHistory();
    if (state.tab === 'rules') enterRules();
  }
}

function resetSessions() {
  stopTimer();
  state.sessions = [];
  state.count = 0;
  state.loaded = false;
  state.loadedAt = null;
  state.sessionsError = null;
  state.selected.clear();
  state.history = { page: 1, rows: [], total: 0, loaded: false, error: null, ruleNames: new Map() };
  resetRules();
}

// ---------------------------------------------------------------- views

function setTab(tab) {
  state.tab = tab;
  for (const b of document.querySelectorAll('.tab')) b.classList.toggle('active', b.dataset.tab === tab);
  drawAll();
  if (tab === 'history' && state.instance) loadHistory();
  if (tab === 'sessions') refreshSessions();
  else stopTimer();
  if (tab === 'rules' && state.dbUser) enterRules();
  else leaveRules();
}

function drawAll() {
  const ctxEmpty = $('context-empty');
  let msg = '';
  if (!state.projects.length) msg = t('noProjects');
  else if (!state.project) msg = t('pickProject');
  else if (!state.instances.length) msg = t('noInstances');
  else if (!state.instance) msg = t('pickInstance');
  else if (!state.dbUsers.length) msg = t('noDbUsers');
  else if (!state.dbUser) msg = t('pickDbUser');
  ctxEmpty.textContent = msg;
  show(ctxEmpty, !!msg && !!state.token);
  for (const b of document.querySelectorAll('.tab')) b.classList.toggle('active', b.dataset.tab === state.tab);
  show($('sessions-view'), !msg && state.tab === 'sessions');
  show($('history-view'), !msg && state.tab === 'history');
  show($('rules-view'), !msg && state.tab === 'rules');
  drawSessions();
  drawHistory();
  drawRules();
}

function setLanguage(lang) {
  state.lang = lang;
  localStorage.setItem(LANG_KEY, lang);
  applyStaticText();
  if (!$('main-view').hidden) {
    drawPickers();
    drawAll();
  }
  relabelDialog();
}

// ---------------------------------------------------------------- wiring

/** The page's own controls; each module wires its part. */
function wire() {
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', logout);
  for (const b of document.querySelectorAll('[data-lang]')) b.addEventListener('click', () => setLanguage(b.dataset.lang));
  $('banner-close').addEventListener('click', hideBanner);

  $('project-select').addEventListener('change', (e) => chooseProject(e.target.value, null));
  $('instance-select').addEventListener('change', (e) => chooseInstance(e.target.value, null));
  $('dbuser-select').addEventListener('change', (e) => chooseDbUser(e.target.value));
  for (const b of document.querySelectorAll('.tab')) b.addEventListener('click', () => setTab(b.dataset.tab));

  wireSessions();
  wireKillDialog();
  wireHistory();
  wireRules();
  wireAsk();
  whenSignedOut(signedOut);
}

async function start() {
  wire();
  applyStaticText();
  if (state.token) await enterConsole();
  else showLogin(null);
}

start();
