// Building the page: the DOM helpers (el() puts every value in as a text node, never as HTML),
// the formatting of durations, times and hosts, and the error banner at the top of the console.
import { ApiError } from './api.js';

// ---------------------------------------------------------------- formatting

export function duration(seconds) {
  const s = Number(seconds) || 0;
  if (s < 60) return s + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm ' + String(s % 60).padStart(2, '0') + 's';
  if (s < 86400) return Math.floor(s / 3600) + 'h ' + String(Math.floor((s % 3600) / 60)).padStart(2, '0') + 'm';
  return Math.floor(s / 86400) + 'd ' + String(Math.floor((s % 86400) / 3600)).padStart(2, '0') + 'h';
}

export function clock(date) {
  const p = (n) => String(n).padStart(2, '0');
  return p(date.getHours()) + ':' + p(date.getMinutes()) + ':' + p(date.getSeconds());
}

export function dateTime(ms) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, '0');
  return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + ' ' + clock(d);
}

/** The client address without its port: what "by host" groups by. */
export function hostOnly(host) {
  const m = /^(.*):(\d+)$/.exec(host || '');
  return m ? m[1] : (host || '');
}

export function byId(a, b) {
  return Number(a) - Number(b);
}

// ---------------------------------------------------------------- DOM helpers

export const $ = (id) => document.getElementById(id);

/** el('td', {class: 'x', title: 'y'}, 'text', child, ...): text children become text nodes. */
export function el(tag, attrs, ...children) {
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

export function show(node, visible) {
  node.hidden = !visible;
}

// ---------------------------------------------------------------- errors

/** A failure as one line: the DAS code and message of an API error. */
export function errorText(err) {
  return err instanceof ApiError ? err.code + ': ' + err.msg : String(err);
}

// Which failure the banner shows: a refresh that succeeds again clears only its own.
let bannerSource = null;

export function showBanner(err, source) {
  $('banner-text').textContent = errorText(err);
  bannerSource = source || null;
  show($('banner'), true);
}

export function hideBanner() {
  bannerSource = null;
  show($('banner'), false);
}

/** Whether the banner shows a failure of `source` (see showBanner). */
export function bannerShows(source) {
  return bannerSource === source;
}
