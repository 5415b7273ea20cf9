// Talking to dbkill's DAS API: the fetch wrapper every call goes through (it sends the token
// and X-Dbkill-Console: 1, and turns error answers into ApiError), the paths of the chosen
// instance, paging through the registry's lists, and keeping or dropping the token, which lives
// in sessionStorage only.
import { TOKEN_KEY, state, t } from './state.js';

// What to do when the server rejects the token: app.js sets it to its sign-out.
let signedOut = () => {};

export function whenSignedOut(handler) {
  signedOut = handler;
}

/** Keeps the token for this tab only: sessionStorage, never localStorage or a cookie. */
export function keepToken(token) {
  state.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function dropToken() {
  state.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(status, code, msg) {
    super(code + ': ' + msg);
    this.status = status;
    this.code = code;
    this.msg = msg;
  }
}

export async function api(method, path, body, extraHeaders) {
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

export const enc = encodeURIComponent;
export const instancePath = () => '/v3/' + enc(state.project) + '/instances/' + enc(state.instance);
/** One of the chosen instance's DAS "auto-flow" operations (kill rules and history). */
export const autoFlowPath = (op) => instancePath() + '/auto-flow/' + op;

export async function fetchAll(path, key) {
  // The registry's lists page at 100.
  const out = [];
  for (let offset = 0; ; offset += 100) {
    const { data } = await api('GET', path + (path.includes('?') ? '&' : '?') + 'offset=' + offset + '&limit=100');
    const rows = data[key] || [];
    out.push(...rows);
    if (rows.length < 100 || out.length >= (data.total || 0)) return out;
  }
}
