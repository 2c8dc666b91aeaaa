// Hash routing (#/performances/<id>, #/sessions/<id>, #/me, …), so the server only ever
// serves one page and links can be shared and bookmarked.
//
// Each view is `render(outlet, ctx)` and may return a cleanup function (unsubscribe,
// stop timers). `ctx.signal` aborts when the route changes, so a view whose data arrives
// late does not draw over the next page.

const routes = [];
let outlet = null;
let current = null; // { cleanup, controller }
let firstRender = true;
let fallback = null;

export function route(pattern, view) {
  routes.push({ pattern, view });
}

export function notFound(view) {
  fallback = view;
}

/** The path and query of the current hash: '#/search?q=x' → { path: '/search', query }. */
export function currentLocation() {
  const raw = window.location.hash.replace(/^#/, '') || '/';
  const at = raw.indexOf('?');
  const path = at === -1 ? raw : raw.slice(0, at);
  const query = new URLSearchParams(at === -1 ? '' : raw.slice(at + 1));
  return { path: path || '/', query };
}

export function href(path, query) {
  const qs = query ? new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== '')).toString() : '';
  return `#${path}${qs ? `?${qs}` : ''}`;
}

export function navigate(path, query) {
  const target = href(path, query);
  if (window.location.hash === target) render();
  else window.location.hash = target;
}

/** Draws the current route again (after a language switch or a log-in). */
export function refresh() {
  render({ keepFocus: true });
}

async function render({ keepFocus = false } = {}) {
  const { path, query } = currentLocation();
  if (current) {
    current.controller.abort();
    try {
      current.cleanup?.();
    } catch (err) {
      console.warn('cleanup failed', err);
    }
  }
  const controller = new AbortController();
  const me = { controller, cleanup: null };
  current = me;

  let match = null;
  let params = [];
  for (const r of routes) {
    const m = path.match(r.pattern);
    if (m) {
      match = r.view;
      params = m.slice(1).map(decodeURIComponent);
      break;
    }
  }
  const view = match || fallback;
  outlet.replaceChildren();
  outlet.setAttribute('aria-busy', 'true');
  const isFirst = firstRender;
  firstRender = false;
  if (!keepFocus) window.scrollTo(0, 0);
  try {
    me.cleanup = (await view(outlet, { params, query, path, signal: controller.signal })) || null;
  } catch (err) {
    if (controller.signal.aborted) return;
    throw err;
  } finally {
    if (current === me) outlet.removeAttribute('aria-busy');
  }
  if (controller.signal.aborted) {
    // The route changed while this view was drawing; undo whatever it started.
    me.cleanup?.();
    return;
  }
  // Move focus to the new page's heading, so keyboard and screen-reader users start at
  // the top of what changed; not on the first load, where the browser's own start is right.
  if (!isFirst && !keepFocus) {
    const heading = outlet.querySelector('h1');
    if (heading) {
      heading.setAttribute('tabindex', '-1');
      heading.focus({ preventScroll: true });
    } else {
      outlet.focus({ preventScroll: true });
    }
  }
}

export function start(mainElement) {
  outlet = mainElement;
  window.addEventListener('hashchange', () => render());
  render();
}
