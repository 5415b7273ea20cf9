// The console's one state object, the keys of what it keeps in the browser's storage, and the
// text of the page in the chosen language (t). Every other module reads and changes this state.
import { I18N } from './i18n.js';

// The token, the user name and the chosen project / instance / db user are kept in
// sessionStorage: gone with the tab.
export const TOKEN_KEY = 'dbkill.token';
export const WHO_KEY = 'dbkill.user';
export const CTX_KEY = 'dbkill.context';
export const LANG_KEY = 'dbkill.lang';   // only the language is kept across browser sessions

export const state = {
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
