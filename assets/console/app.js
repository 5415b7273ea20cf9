// dbkill web console: plain JavaScript, no build step, no third-party code.
//
// It is an ordinary client of dbkill's DAS API: it logs in with POST /v3/auth/tokens, keeps the
// token in sessionStorage only (gone with the tab, never sent by the browser on its own), and
// sends X-Dbkill-Console: 1 so kills made here are recorded as "console:<user>".
// Every value that comes from a database is put into the page as text, never as HTML.
'use strict';

(function () {
  const I18N = window.DBKILL_I18N;
  const REFRESH_MS = 2500;
  const PAGE = 1000;                // ListProcesses allows up to 1000 rows a page
  const MAX_SESSIONS = 50000;       // stop paging there: the browser would not cope anyway
  const MAX_ROWS = 2000;            // rows drawn at once; filters narrow the rest
  const COUNT_ROWS = 8;             // entries per "by user / host / database" box
  const HISTORY_PAGE_SIZE = 50;
  const TOKEN_KEY = 'dbkill.token';
  const WHO_KEY = 'dbkill.user';
  const CTX_KEY = 'dbkill.context';
  const LANG_KEY = 'dbkill.lang';   // only the language is kept across browser sessions

  const state = {
    lang: pickLanguage(),
    token: sessionStorage.getItem(TOKEN_KEY),
    who: sessionStorage.getItem(WHO_KEY) || '',
    projects: [],
    instances: [],
    dbUsers: [],
    project: '',
    instance: '',
    dbUser: '',
    // Bumped whenever the project / instance / db user changes, so answers to requests made for
    // the previous choice are dropped instead of drawn.
    generation: 0,
    tab: 'sessions',
    sessions: [],
    count: 0,
    loaded: false,
    loadedAt: null,
    refreshing: false,
    sessionsError: null,
    timer: null,
    selected: new Set(),
    filters: { user: '', database: '', host: '', command: '', minTime: '', hideSleep: false },
    sort: { key: 'time', dir: 'desc' },
    history: { page: 1, rows: [], total: 0, loaded: false, error: null },
    dialog: null,
  };

  // ---------------------------------------------------------------- text and formatting

  function pickLanguage() {
    const saved = localStorage.getItem(LANG_KEY);
    if (saved === 'en' || saved === 'zh') return saved;
    return (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh' : 'en';
  }

  function t(key, vars) {
    let s = I18N[state.lang][key];
    if (s === undefined) s = I18N.en[key];
    if (s === undefined) return key;
    if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
    return s;
  }

  function applyStaticText() {
    document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
    document.title = t('pageTitle');
    for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
    for (const node of document.querySelectorAll('[data-i18n-placeholder]')) node.placeholder = t(node.dataset.i18nPlaceholder);
    for (const node of document.querySelectorAll('[data-i18n-title]')) node.title = t(node.dataset.i18nTitle);
    for (const b of document.querySelectorAll('[data-lang]')) b.classList.toggle('active', b.dataset.lang === state.lang);
  }

  function duration(seconds) {
    const s = Number(seconds) || 0;
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm ' + String(s % 60).padStart(2, '0') + 's';
    if (s < 86400) return Math.floor(s / 3600) + 'h ' + String(Math.floor((s % 3600) / 60)).padStart(2, '0') + 'm';
    return Math.floor(s / 86400) + 'd ' + String(Math.floor((s % 86400) / 3600)).padStart(2, '0') + 'h';
  }

  function clock(date) {
    const p = (n) => String(n).padStart(2, '0');
    return p(date.getHours()) + ':' + p(date.getMinutes()) + ':' + p(date.getSeconds());
  }

  function dateTime(ms) {
    const d = new Date(ms);
    const p = (n) => String(n).padStart(2, '0');
    return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + ' ' + clock(d);
  }

  /** The client address without its port: what "by host" groups by. */
  function hostOnly(host) {
    const m = /^(.*):(\d+)$/.exec(host || '');
    return m ? m[1] : (host || '');
  }

  function byId(a, b) {
    return Number(a) - Number(b);
  }

  // ---------------------------------------------------------------- DOM helpers

  const $ = (id) => document.getElementById(id);

  /** el('td', {class: 'x', title: 'y'}, 'text', child, ...): text children become text nodes. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') node.className = v;
        else if (k === 'dataset') Object.assign(node.dataset, v);
        else if (k in node && typeof v !== 'string') node[k] = v;
        else node.setAttribute(k, v === true ? '' : v);
      }
    }
    for (const c of children) {
      if (c === undefined || c === null || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  // ---------------------------------------------------------------- the API

  class ApiError extends Error {
    constructor(status, code, msg) {
      super(code + ': ' + msg);
      this.status = status;
      this.code = code;
      this.msg = msg;
    }
  }

  async function api(method, path, body, extraHeaders) {
    const headers = {
      Accept: 'application/json',
      'X-Dbkill-Console': '1',
      'X-Language': state.lang === 'zh' ? 'zh-cn' : 'en-us',
    };
    if (state.token) headers['X-Auth-Token'] = state.token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    Object.assign(headers, extraHeaders || {});
    let resp;
    try {
      resp = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch (e) {
      throw new ApiError(0, t('networkCode'), t('networkError'));
    }
    const text = await resp.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (e) {
      data = null;
    }
    if (!resp.ok) {
      const code = (data && data.error_code) || 'HTTP ' + resp.status;
      const msg = (data && data.error_msg) || text.slice(0, 200) || resp.statusText;
      const err = new ApiError(resp.status, code, msg);
      // A token that expired or was revoked elsewhere: back to the sign-in form, saying why.
      if (resp.status === 401 && state.token && path !== '/v3/auth/tokens') signedOut(err);
      throw err;
    }
    return { data, resp };
  }

  const enc = encodeURIComponent;
  const instancePath = () => '/v3/' + enc(state.project) + '/instances/' + enc(state.instance);

  // ---------------------------------------------------------------- errors

  // Which failure the banner shows: a refresh that succeeds again clears only its own.
  let bannerSource = null;

  function showBanner(err, source) {
    $('banner-text').textContent = err instanceof ApiError ? err.code + ': ' + err.msg : String(err);
    bannerSource = source || null;
    show($('banner'), true);
  }

  function hideBanner() {
    bannerSource = null;
    show($('banner'), false);
  }

  // ---------------------------------------------------------------- sign-in and out

  function showLogin(err) {
    stopTimer();
    show($('main-view'), false);
    show($('login-view'), true);
    $('login-server').textContent = location.origin;
    const box = $('login-error');
    box.textContent = err ? (err instanceof ApiError ? err.code + ': ' + err.msg : String(err)) : '';
    show(box, !!err);
    ($('login-user').value ? $('login-password') : $('login-user')).focus();
  }

  function signedOut(err) {
    state.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    closeDialog(true);
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
      state.token = resp.headers.get('X-Subject-Token');
      if (!state.token) throw new Error(t('noTokenHeader'));
      state.who = (data && data.token && data.token.user && data.token.user.name) || name;
      sessionStorage.setItem(TOKEN_KEY, state.token);
      sessionStorage.setItem(WHO_KEY, state.who);
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

  async function fetchAll(path, key) {
    // The registry's lists page at 100.
    const out = [];
    for (let offset = 0; ; offset += 100) {
      const { data } = await api('GET', path + (path.includes('?') ? '&' : '?') + 'offset=' + offset + '&limit=100');
      const rows = data[key] || [];
      out.push(...rows);
      if (rows.length < 100 || out.length >= (data.total || 0)) return out;
    }
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
    state.history = { page: 1, rows: [], total: 0, loaded: false, error: null };
  }

  // ---------------------------------------------------------------- sessions

  function stopTimer() {
    clearTimeout(state.timer);
    state.timer = null;
  }

  function scheduleRefresh() {
    stopTimer();
    if ($('auto-refresh').checked && state.dbUser && state.tab === 'sessions' && !document.hidden && state.token) {
      state.timer = setTimeout(refreshSessions, REFRESH_MS);
    }
  }

  async function refreshSessions() {
    if (!state.dbUser || state.refreshing) return;
    stopTimer();
    state.refreshing = true;
    const gen = state.generation;
    drawRefreshState();
    try {
      const seen = new Map();
      let count = 0;
      for (let offset = 0; offset < MAX_SESSIONS; offset += PAGE) {
        const q = '?db_user_id=' + enc(state.dbUser) + '&offset=' + offset + '&limit=' + PAGE;
        const { data } = await api('GET', instancePath() + '/processes' + q);
        if (gen !== state.generation) return;
        count = data.count;
        // Sessions come and go between pages; an id seen twice is the same session.
        for (const p of data.processes) seen.set(p.id, p);
        if (offset + PAGE >= count || data.processes.length === 0) break;
      }
      state.sessions = [...seen.values()];
      state.count = count;
      state.loaded = true;
      state.loadedAt = new Date();
      state.sessionsError = null;
      // A selected session that has ended cannot be killed any more: forget it.
      for (const id of [...state.selected]) if (!seen.has(id)) state.selected.delete(id);
    } catch (e) {
      if (gen !== state.generation) return;
      state.sessionsError = e;
    } finally {
      if (gen === state.generation) {
        state.refreshing = false;
        drawSessions();
        scheduleRefresh();
      } else {
        state.refreshing = false;
      }
    }
  }

  function matches(p, f, minTime) {
    if (f.user && p.user !== f.user) return false;
    if (f.database && p.database !== f.database) return false;
    if (f.command && p.command !== f.command) return false;
    if (f.host && !p.host.toLowerCase().includes(f.host.toLowerCase())) return false;
    if (minTime > 0 && Number(p.time) < minTime) return false;
    if (f.hideSleep && p.command === 'Sleep') return false;
    return true;
  }

  function visibleSessions() {
    const f = state.filters;
    const minTime = Number(f.minTime) || 0;
    const rows = state.sessions.filter((p) => matches(p, f, minTime));
    const { key, dir } = state.sort;
    const sign = dir === 'asc' ? 1 : -1;
    const num = { id: 'id', time: 'time', trx: 'trx_executed_time' }[key];
    rows.sort((a, b) => {
      let d = num ? Number(a[num]) - Number(b[num]) : a[key].localeCompare(b[key]);
      if (d === 0) d = Number(a.id) - Number(b.id);
      return d * sign;
    });
    return rows;
  }

  function drawRefreshState() {
    const at = state.loadedAt ? t('updatedAt', { time: clock(state.loadedAt) }) : '';
    $('refreshed-at').textContent = state.refreshing && !state.loaded ? t('loading') : at;
    $('refresh').disabled = state.refreshing;
  }

  /** The filter drop-downs offer the values present; a chosen value stays even if it vanished. */
  function fillFilterSelect(select, values, chosen, anyLabel) {
    const all = [...new Set(values)].sort((a, b) => a.localeCompare(b));
    if (chosen && !all.includes(chosen)) all.unshift(chosen);
    const signature = state.lang + '\u0000' + all.join('\u0000');
    // Rebuilding the options closes an open drop-down, so only do it when they change.
    if (select.dataset.signature !== signature) {
      select.replaceChildren(el('option', { value: '' }, anyLabel), ...all.map((v) => el('option', { value: v }, v)));
      select.dataset.signature = signature;
    }
    select.value = chosen;
  }

  function drawCounts(rows) {
    const groups = [
      ['counts-user', 'user', (p) => p.user],
      ['counts-host', 'host', (p) => hostOnly(p.host)],
      ['counts-database', 'database', (p) => p.database],
    ];
    for (const [id, filter, keyOf] of groups) {
      const counts = new Map();
      for (const p of rows) counts.set(keyOf(p), (counts.get(keyOf(p)) || 0) + 1);
      const sorted = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
      const max = sorted.length ? sorted[0][1] : 1;
      const table = $(id);
      table.replaceChildren();
      for (const [name, n] of sorted.slice(0, COUNT_ROWS)) {
        const active = state.filters[filter] === name;
        const bar = el('span', { class: 'count-bar' });
        bar.style.width = Math.max(4, Math.round((n / max) * 100)) + '%';
        table.append(el('tr', {
          class: 'count-row' + (active ? ' active' : ''),
          dataset: { filter, value: name },
          title: active ? t('countClear') : t('countFilter'),
        },
        el('td', { class: 'count-name' }, el('span', { class: 'count-label' }, name || '—'), bar),
        el('td', { class: 'count-n' }, n)));
      }
      if (sorted.length > COUNT_ROWS) {
        table.append(el('tr', { class: 'count-more' }, el('td', { colspan: '2' }, t('andMore', { n: sorted.length - COUNT_ROWS }))));
      }
      if (!sorted.length) table.append(el('tr', { class: 'count-more' }, el('td', { colspan: '2' }, '—')));
    }
  }

  function timeClass(p) {
    if (p.command === 'Sleep') return '';
    const s = Number(p.time);
    return s >= 600 ? ' hot' : s >= 60 ? ' warm' : '';
  }

  function sessionRow(p) {
    const selected = state.selected.has(p.id);
    const sql = p.sql || '';
    return el('tr', {
      class: (selected ? 'selected' : '') + (p.command === 'Sleep' ? ' sleeping' : ''),
      dataset: { id: p.id },
    },
    el('td', { class: 'col-check' }, el('input', {
      type: 'checkbox', checked: selected, dataset: { id: p.id }, 'aria-label': t('selectSession', { id: p.id }),
    })),
    el('td', { class: 'col-id mono' }, p.id),
    el('td', { class: 'ellipsis', title: p.user }, p.user),
    el('td', { class: 'mono ellipsis', title: p.host }, p.host),
    el('td', { class: 'ellipsis', title: p.database }, p.database),
    el('td', null, el('span', { class: 'cmd cmd-' + p.command.toLowerCase().replace(/[^a-z]/g, '') }, p.command)),
    el('td', { class: 'col-num mono' + timeClass(p), title: p.time + ' s' }, duration(p.time)),
    el('td', { class: 'ellipsis state', title: p.state }, p.state),
    el('td', { class: 'col-num mono' + (Number(p.trx_executed_time) > 0 ? ' trx' : ''), title: p.trx_executed_time + ' s' },
      Number(p.trx_executed_time) > 0 ? duration(p.trx_executed_time) : ''),
    el('td', { class: 'col-sql mono', title: sql }, sql));
  }

  function drawSessions() {
    drawRefreshState();
    const ready = !!state.dbUser;
    const s = state.sessions;
    const f = state.filters;
    fillFilterSelect($('filter-user'), s.map((p) => p.user), f.user, t('any'));
    fillFilterSelect($('filter-database'), s.map((p) => p.database), f.database, t('any'));
    fillFilterSelect($('filter-command'), s.map((p) => p.command), f.command, t('any'));
    $('tab-sessions-count').textContent = state.loaded ? String(state.count) : '';

    const rows = visibleSessions();
    const visibleIds = new Set(rows.map((p) => p.id));
    drawCounts(rows);

    const body = $('sessions-body');
    body.replaceChildren(...rows.slice(0, MAX_ROWS).map(sessionRow));

    const empty = $('sessions-empty');
    empty.replaceChildren();
    if (!ready) {
      empty.append(t('pickFirst'));
    } else if (state.sessionsError && !state.loaded) {
      empty.append(el('div', { class: 'empty-error' }, state.sessionsError.message));
    } else if (!state.loaded) {
      empty.append(el('span', { class: 'spinner' }), t('loadingSessions'));
    } else if (rows.length === 0) {
      empty.append(state.sessions.length ? t('noMatch') : t('noSessions'));
      if (state.sessions.length) {
        empty.append(' ', el('button', { type: 'button', class: 'btn btn-link', dataset: { action: 'clear-filters' } }, t('clearFilters')));
      }
    }
    show(empty, empty.childNodes.length > 0);

    const foot = $('sessions-foot');
    const notes = [];
    if (rows.length > MAX_ROWS) notes.push(t('rowsCapped', { n: MAX_ROWS, total: rows.length }));
    if (state.count > state.sessions.length) notes.push(t('sessionsCapped', { n: state.sessions.length, total: state.count }));
    foot.textContent = notes.join(' ');
    show(foot, notes.length > 0);

    if (state.sessionsError && state.loaded) showBanner(state.sessionsError, 'sessions');
    else if (!state.sessionsError && bannerSource === 'sessions') hideBanner();

    // Summary, selection, buttons.
    $('summary').textContent = state.loaded
      ? t('summary', { shown: rows.length, total: state.count })
      : '';
    const n = state.selected.size;
    const hidden = [...state.selected].filter((id) => !visibleIds.has(id)).length;
    show($('selection'), n > 0);
    $('selection-text').textContent = hidden
      ? t('selectedHidden', { n, hidden })
      : t('selectedN', { n });
    const kq = $('kill-query');
    const kc = $('kill-connection');
    kq.disabled = kc.disabled = n === 0;
    kq.textContent = n ? t('killQueryN', { n }) : t('killQuery');
    kc.textContent = n ? t('killConnectionN', { n }) : t('killConnection');

    const all = $('select-all');
    const selVisible = rows.filter((p) => state.selected.has(p.id)).length;
    all.checked = rows.length > 0 && selVisible === rows.length;
    all.indeterminate = selVisible > 0 && selVisible < rows.length;
    all.disabled = rows.length === 0;

    for (const th of document.querySelectorAll('#sessions-table th.sortable')) {
      const on = th.dataset.sort === state.sort.key;
      th.classList.toggle('sorted', on);
      th.setAttribute('aria-sort', on ? (state.sort.dir === 'asc' ? 'ascending' : 'descending') : 'none');
      th.querySelector('.sort-mark').textContent = on ? (state.sort.dir === 'asc' ? '▲' : '▼') : '';
    }
  }

  function setFilter(key, value) {
    state.filters[key] = value;
    drawSessions();
  }

  function clearFilters() {
    state.filters = { user: '', database: '', host: '', command: '', minTime: '', hideSleep: false };
    $('filter-host').value = '';
    $('filter-min-time').value = '';
    $('filter-hide-sleep').checked = false;
    drawSessions();
  }

  function toggleSelected(id, on) {
    if (on) state.selected.add(id);
    else state.selected.delete(id);
    drawSessions();
  }

  // ---------------------------------------------------------------- kill: dry run, confirm, report

  function closeDialog(force) {
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

  // ---------------------------------------------------------------- history

  async function loadHistory() {
    if (!state.instance) return;
    const gen = state.generation;
    const h = state.history;
    $('history-refresh').disabled = true;
    try {
      const q = '?page_num=' + h.page + '&page_size=' + HISTORY_PAGE_SIZE;
      const { data } = await api('GET', instancePath() + '/auto-flow/query-kill-process-history' + q);
      if (gen !== state.generation) return;
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

  function drawHistory() {
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
      el('td', null, el('span', { class: 'source source-' + r.killed_source.split(':')[0] }, r.killed_source)))));
    const empty = $('history-empty');
    empty.replaceChildren();
    if (h.error) empty.append(el('div', { class: 'empty-error' }, h.error.message));
    else if (!h.loaded) empty.append(el('span', { class: 'spinner' }), t('loading'));
    else if (!h.rows.length) empty.append(t('historyEmpty'));
    show(empty, empty.childNodes.length > 0);
  }

  // ---------------------------------------------------------------- views

  function setTab(tab) {
    state.tab = tab;
    for (const b of document.querySelectorAll('.tab')) b.classList.toggle('active', b.dataset.tab === tab);
    drawAll();
    if (tab === 'history' && state.instance) loadHistory();
    if (tab === 'sessions') refreshSessions();
    else stopTimer();
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
    drawSessions();
    drawHistory();
  }

  function setLanguage(lang) {
    state.lang = lang;
    localStorage.setItem(LANG_KEY, lang);
    applyStaticText();
    if (!$('main-view').hidden) {
      drawPickers();
      drawAll();
    }
    const d = state.dialog;
    // The dialog's text is drawn from a server answer in the old language: say only what it is.
    if (d && d.phase === 'dry-run') $('dialog-title').textContent = t('dryRunTitle');
  }

  // ---------------------------------------------------------------- wiring

  function wire() {
    $('login-form').addEventListener('submit', login);
    $('logout').addEventListener('click', logout);
    for (const b of document.querySelectorAll('[data-lang]')) b.addEventListener('click', () => setLanguage(b.dataset.lang));
    $('banner-close').addEventListener('click', hideBanner);

    $('project-select').addEventListener('change', (e) => chooseProject(e.target.value, null));
    $('instance-select').addEventListener('change', (e) => chooseInstance(e.target.value, null));
    $('dbuser-select').addEventListener('change', (e) => chooseDbUser(e.target.value));
    for (const b of document.querySelectorAll('.tab')) b.addEventListener('click', () => setTab(b.dataset.tab));

    $('filter-user').addEventListener('change', (e) => setFilter('user', e.target.value));
    $('filter-database').addEventListener('change', (e) => setFilter('database', e.target.value));
    $('filter-command').addEventListener('change', (e) => setFilter('command', e.target.value));
    $('filter-host').addEventListener('input', (e) => setFilter('host', e.target.value.trim()));
    $('filter-min-time').addEventListener('input', (e) => setFilter('minTime', e.target.value));
    $('filter-hide-sleep').addEventListener('change', (e) => setFilter('hideSleep', e.target.checked));
    $('filter-clear').addEventListener('click', clearFilters);
    $('auto-refresh').addEventListener('change', (e) => (e.target.checked ? refreshSessions() : stopTimer()));
    $('refresh').addEventListener('click', refreshSessions);
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && state.tab === 'sessions') refreshSessions();
    });

    // Counts filter on click; clicking the active one clears it.
    document.querySelector('.counts').addEventListener('click', (e) => {
      const row = e.target.closest('tr.count-row');
      if (!row) return;
      const { filter, value } = row.dataset;
      const next = state.filters[filter] === value ? '' : value;
      if (filter === 'host') $('filter-host').value = next;
      setFilter(filter, next);
    });

    const body = $('sessions-body');
    body.addEventListener('change', (e) => {
      if (e.target.matches('input[type=checkbox]')) toggleSelected(e.target.dataset.id, e.target.checked);
    });
    // A click anywhere on a row toggles it, unless the user is selecting text to copy.
    body.addEventListener('click', (e) => {
      if (e.target.closest('input')) return;
      const row = e.target.closest('tr[data-id]');
      if (!row || String(window.getSelection())) return;
      toggleSelected(row.dataset.id, !state.selected.has(row.dataset.id));
    });
    $('select-all').addEventListener('change', () => {
      const rows = visibleSessions();
      const allOn = rows.length > 0 && rows.every((p) => state.selected.has(p.id));
      for (const p of rows) {
        if (allOn) state.selected.delete(p.id);
        else state.selected.add(p.id);
      }
      drawSessions();
    });
    $('selection-clear').addEventListener('click', () => {
      state.selected.clear();
      drawSessions();
    });
    $('sessions-empty').addEventListener('click', (e) => {
      if (e.target.closest('[data-action=clear-filters]')) clearFilters();
    });
    for (const th of document.querySelectorAll('#sessions-table th.sortable')) {
      th.addEventListener('click', () => {
        const key = th.dataset.sort;
        const dir = state.sort.key === key ? (state.sort.dir === 'asc' ? 'desc' : 'asc') : key === 'id' || key === 'user' ? 'asc' : 'desc';
        state.sort = { key, dir };
        drawSessions();
      });
    }

    $('kill-connection').addEventListener('click', () => startKill('connection'));
    $('kill-query').addEventListener('click', () => startKill('query'));
    $('dialog-confirm').addEventListener('click', confirmKill);
    $('dialog-cancel').addEventListener('click', closeDialog);
    $('dialog-x').addEventListener('click', closeDialog);
    $('kill-dialog').addEventListener('cancel', (e) => {
      if (state.dialog && state.dialog.phase === 'killing') e.preventDefault();
      else state.dialog = null;
    });

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

  async function start() {
    wire();
    applyStaticText();
    if (state.token) await enterConsole();
    else showLogin(null);
  }

  start();
})();
