// The console's one state object, the keys of what it keeps in the browser's storage, and the
// text of the page in the chosen language (t). Every other module reads and changes this state.
import { I18N } from './i18n.js';

// The token, the user name and the chosen project / instance / db user are kept in
// sessionStorage: gone with the tab.
export const TOKEN_KEY = 'dbkill.token';
export const WHO_KEY = 'dbkill.user';
export const CTX_KEY = 'dbkill.context';
export const ROLES_KEY = 'dbkill.roles';
export const LANG_KEY = 'dbkill.lang';   // only the language is kept across browser sessions

export const state = {
  lang: pickLanguage(),
  token: sessionStorage.getItem(TOKEN_KEY),
  who: sessionStorage.getItem(WHO_KEY) || '',
  // The role names the token was issued with (all of the user's projects): only a user who is
  // a viewer everywhere is known to be read-only before the server says so.
  roles: savedRoles(),
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
  // The generation the listing in flight was started for, or null: one for an earlier choice
  // does not hold back the listing of the current one.
  refreshing: null,
  sessionsError: null,
  timer: null,
  selected: new Set(),
  filters: { user: '', database: '', host: '', command: '', minTime: '', hideSleep: false },
  sort: { key: 'time', dir: 'desc' },
  history: { page: 1, rows: [], total: 0, loaded: false, error: null, ruleNames: new Map() },
  rules: freshRules(),
  ruleForm: freshRuleForm(),
  dialog: null,
};

/** The Auto kill tab of one instance (rules.js). */
export function freshRules() {
  return {
    list: [],
    loaded: false,
    loading: false,
    again: false,         // read again once the read on its way is answered
    loadedAt: null,
    error: null,
    switchOn: null,       // null until the server said
    switchBusy: false,
    denied: false,        // the server answered 403 to a change: read-only from then on
    notice: null,         // the failure of the last change (switch, stop), shown above the rules
    timer: null,
    highlight: null,      // the task_id just created
  };
}

/** The create form and its live preview (rule-form.js). */
export function freshRuleForm() {
  return {
    open: false,
    seq: 0,               // bumped by every edit: an answer for an older form is dropped
    timer: null,
    busy: false,
    problem: null,        // what the form lacks before it can be previewed or created
    preview: null,        // { data, key, at }: the last answer and the form it answered
    previewError: null,
    creating: false,
    createError: null,
  };
}

/** Whether changes to kill rules are known to be refused: the server said 403, or the user is a
 * viewer on every project it has a role in. Anyone else may try; the server decides. */
export function isReadOnly() {
  return state.rules.denied || (state.roles.length > 0 && state.roles.every((r) => r === 'viewer'));
}

function savedRoles() {
  try {
    const roles = JSON.parse(sessionStorage.getItem(ROLES_KEY));
    return Array.isArray(roles) ? roles : [];
  } catch (e) {
    return [];
  }
}

// ---------------------------------------------------------------- text

function pickLanguage() {
  const saved = localStorage.getItem(LANG_KEY);
  if (saved === 'en' || saved === 'zh') return saved;
  return (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

export function t(key, vars) {
  let s = I18N[state.lang][key];
  if (s === undefined) s = I18N.en[key];
  if (s === undefined) return key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  return s;
}
