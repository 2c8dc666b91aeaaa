// Small pieces several views share: error messages, headings, form fields, badges.

import { h, mount } from './dom.js';
import { t } from './i18n.js';
import { ApiError } from './api.js';

/** A buyer-facing sentence for an error: the server's own message, with a hint by code. */
export function errorText(err) {
  if (!(err instanceof ApiError)) return t('error.generic');
  switch (err.code) {
    case 'NETWORK':
      return t('error.network');
    case 'RATE_LIMITED': {
      const after = err.extensions?.retryAfter;
      return [err.message, after ? t('error.retryAfter', { n: after }) : ''].filter(Boolean).join(' ');
    }
    case 'INTERNAL_SERVER_ERROR': {
      const id = err.extensions?.requestId;
      return [err.message || t('error.generic'), id ? t('error.requestId', { id }) : ''].filter(Boolean).join(' ');
    }
    case 'UNAUTHENTICATED':
      return err.message || t('error.login');
    default:
      return err.message || t('error.generic');
  }
}

/** An alert box for an error, with an optional retry button. */
export function errorBox(err, { retry, testid = 'error' } = {}) {
  return h('div', { class: 'notice error', role: 'alert', 'data-testid': testid, 'data-code': err?.code || '' },
    h('p', null, errorText(err)),
    retry ? h('button', { type: 'button', class: 'button secondary', onclick: retry }, t('retry')) : null);
}

export function notice(text, { kind = 'info', testid, role = 'status' } = {}) {
  return h('div', { class: `notice ${kind}`, role, 'data-testid': testid }, h('p', null, text));
}

export function loading() {
  return h('p', { class: 'loading', role: 'status' }, t('loading'));
}

/** Sets the tab title: "<page> · Curtain". */
export function setTitle(text) {
  document.title = text ? `${text} · Curtain` : 'Curtain';
}

let fieldSeq = 0;

/** A labelled input; returns { wrap, input }. */
export function field(label, props = {}, hint) {
  const id = `f${++fieldSeq}`;
  const hintId = hint ? `${id}-hint` : undefined;
  const input = h(props.tag || 'input', { id, 'aria-describedby': hintId, ...props, tag: undefined });
  const wrap = h('div', { class: 'field' },
    h('label', { for: id }, label),
    input,
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null);
  return { wrap, input };
}

/** A row of toggle buttons (aria-pressed) for filters such as genre. */
export function chips(label, options, selected, onPick, testid, { showLabel = false } = {}) {
  return h('div', { class: 'chips', role: 'group', 'aria-label': label, 'data-testid': testid },
    showLabel ? h('span', { class: 'chips-label', 'aria-hidden': 'true' }, label) : null,
    options.map((opt) => h('button', {
      type: 'button',
      class: 'chip',
      'aria-pressed': String(opt.value === selected),
      'data-value': opt.value ?? '',
      onclick: () => onPick(opt.value),
    }, opt.label, opt.count !== undefined ? h('span', { class: 'count' }, ` ${opt.count}`) : null)));
}

export function badge(text, kind) {
  return h('span', { class: `badge ${kind || ''}` }, text);
}

/** Where to load an image the API links to (a poster, a QR PNG). Local storage serves
 * files from this same server, but the server builds links from its own bind address
 * (http://127.0.0.1:8080, or 0.0.0.0) unless a public URL is configured, which may not be
 * the address the page was opened at: such loopback links are used by path, so they stay
 * same-origin under the CSP. Other hosts (S3, a CDN) are used as they are; the server adds
 * the poster store's origin to the page's `img-src`. */
export function loadableUrl(url) {
  if (!url) return null;
  try {
    const parsed = new URL(url, window.location.href);
    if (parsed.origin === window.location.origin) return parsed.pathname + parsed.search;
    const loopback = /^(localhost|127\.\d+\.\d+\.\d+|0\.0\.0\.0|\[::1?\]|\[::\])$/.test(parsed.hostname);
    return loopback ? parsed.pathname + parsed.search : parsed.href;
  } catch {
    return null;
  }
}

/** `url` when it is an http(s) address, else null: a link the API hands over (a payment
 * receipt, say) must not become a `javascript:` or `data:` href. */
export function httpUrl(url) {
  if (!url) return null;
  try {
    const parsed = new URL(url, window.location.href);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.href : null;
  } catch {
    return null;
  }
}

/**
 * A connection shown page by page: the first page now, the next at each click of `more`.
 * `fetchPage(after)` resolves to the connection ({ edges, pageInfo }); `render` makes a list
 * item of an edge; `empty()` is shown when there is none at all; `retry` is offered on an
 * error. Nothing is drawn once `signal` is aborted (the buyer went elsewhere).
 */
export async function pagedList({ list, status, more, signal, fetchPage, render, empty, retry }) {
  let after = null;
  async function load() {
    more.disabled = true;
    try {
      const page = await fetchPage(after);
      if (signal.aborted) return;
      list.append(...page.edges.map(render));
      mount(status, list.children.length ? null : empty());
      after = page.pageInfo.endCursor;
      more.hidden = !page.pageInfo.hasNextPage;
    } catch (err) {
      if (signal.aborted) return;
      mount(status, errorBox(err, { retry }));
    }
    more.disabled = false;
  }
  more.addEventListener('click', load);
  await load();
}
