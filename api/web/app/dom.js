// Every piece of the page is built with these helpers rather than HTML strings: text from
// the API always lands in text nodes, so it can never become markup (and the strict CSP
// forbids inline styles and handlers anyway).

const SVG_NS = 'http://www.w3.org/2000/svg';

// Set as DOM properties rather than attributes: a textarea's value, and states that must
// also be switchable off later. `checked` and `selected` go in as attributes, their
// default state, which is what a newly built control needs.
const PROPERTIES = new Set(['value', 'disabled', 'hidden', 'textContent']);

function apply(el, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') {
      el.setAttribute('class', Array.isArray(value) ? value.filter(Boolean).join(' ') : value);
    } else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (PROPERTIES.has(key)) {
      el[key] = value;
    } else if (key === 'style') {
      throw new Error('inline styles break the Content-Security-Policy; use a class');
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.append(child);
    else el.append(document.createTextNode(String(child)));
  }
}

/** An HTML element: h('a', { href: '#/', class: 'x' }, 'text', otherNode). */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  apply(el, props);
  append(el, children);
  return el;
}

/** An SVG element, same calling convention as h(). */
export function s(tag, props, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, props);
  append(el, children);
  return el;
}

/** Replaces an element's content. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/**
 * Search highlights come as text with `<em>` around matches and everything else
 * HTML-escaped. Rather than trusting that as HTML, split on the two tags and decode the
 * few entities an escaper produces, so the result is text nodes and <mark> elements only.
 */
export function highlighted(snippet) {
  const decode = (text) => text.replace(/&(amp|lt|gt|quot|#39|#x27|#x2F|#47);/g, (_, name) => ({
    amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", '#x27': "'", '#x2F': '/', '#47': '/',
  })[name]);
  const parts = String(snippet).split(/<\/?em>/);
  // Split alternates outside/inside <em>, starting outside.
  return parts.map((part, i) => (i % 2 === 1 ? h('mark', null, decode(part)) : decode(part)));
}

/** A promise that settles after `ms`, or early (rejecting) when `signal` aborts. */
export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(timer); reject(signal.reason); }, { once: true });
  });
}
