// Performance cards and posters, shared by the home page and search results.

import { h } from '../dom.js';
import { t, price, day } from '../i18n.js';
import { badge, loadableUrl } from '../ui.js';

/** The poster, or a drawn stand-in (genre colour and the title's first letter). */
export function poster(perf, src, size = 'small') {
  if (src) {
    return h('img', { class: `poster ${size}`, src, alt: '', loading: 'lazy', width: 240, height: 336 });
  }
  return h('div', { class: `poster placeholder ${size} genre-${(perf.genre || '').toLowerCase()}`, 'aria-hidden': 'true' },
    h('span', { class: 'initial' }, Array.from(perf.title || '?')[0]));
}

export function performanceCard(perf, { titleNodes } = {}) {
  const lowest = perf.priceTiers?.length ? Math.min(...perf.priceTiers.map((p) => p.price)) : null;
  return h('li', { class: 'card', 'data-testid': 'performance-card', 'data-performance-id': perf.id },
    poster(perf, loadableUrl(perf.posterUrl)),
    h('div', { class: 'card-body' },
      badge(t(`genre.${perf.genre}`), 'genre'),
      h('h3', { class: 'card-title' },
        h('a', { href: `#/performances/${perf.id}`, 'data-testid': 'performance-link' }, titleNodes || perf.title)),
      perf.englishTitle ? h('p', { class: 'subtitle', lang: 'en' }, perf.englishTitle) : null,
      perf.venue ? h('p', { class: 'venue' }, `${perf.venue.name} · ${perf.venue.region}`) : null,
      h('p', { class: 'dates' }, `${day(perf.startDate)} – ${day(perf.endDate)}`),
      lowest !== null ? h('p', { class: 'from-price' }, price(lowest), ' ~') : null));
}
