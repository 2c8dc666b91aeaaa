// A performance: what it is, who is in it, where, its sessions and prices, and reviews.

import { h, mount } from '../dom.js';
import { t, price, dateTime, day, number } from '../i18n.js';
import { gql } from '../api.js';
import { isLoggedIn } from '../auth.js';
import { announce } from '../announce.js';
import { errorBox, errorText, loading, setTitle, notice, badge, loadableUrl } from '../ui.js';
import { href, refresh } from '../router.js';
import { poster } from './cards.js';

const QUERY = `query PerformancePage($id: ID!, $from: DateTime) {
  performance(id: $id) {
    id title englishTitle description genre minimumAge runningMinutes startDate endDate posterUrl
    averageRating reviewCount
    venue { id name address region }
    cast { id role castMember { id name englishName } }
    sessions(from: $from) { id startsAt saleState availableSeatCount totalSeatCount }
    priceTiers { grade price }
    reviews(first: 20) { edges { node { id rating body createdAt } } }
  }
}`;

function stars(rating) {
  const full = Math.round(rating);
  return h('span', { class: 'stars', 'aria-hidden': 'true' }, '★'.repeat(full) + '☆'.repeat(5 - full));
}

function reviewItem(review) {
  return h('li', { class: 'review', 'data-testid': 'review' },
    h('p', { class: 'review-head' }, stars(review.rating), h('span', { class: 'visually-hidden' }, t('perf.stars', { n: review.rating })), ' ',
      h('time', { datetime: review.createdAt }, dateTime(review.createdAt))),
    h('p', { class: 'review-body' }, review.body));
}

function reviewForm(performanceId, list) {
  const status = h('div', { role: 'status', class: 'form-status' });
  const ratingGroup = h('fieldset', { class: 'rating' },
    h('legend', null, t('perf.reviewRating')),
    [5, 4, 3, 2, 1].map((n) => h('label', { class: 'rating-option' },
      h('input', { type: 'radio', name: 'rating', value: n, checked: n === 5 }), ` ${'★'.repeat(n)} `, h('span', { class: 'visually-hidden' }, t('perf.stars', { n })))));
  const body = h('textarea', { id: 'review-body', name: 'body', rows: 4, maxlength: 2000, required: true, 'data-testid': 'review-body' });
  const submit = h('button', { type: 'submit', class: 'button primary' }, t('perf.reviewSubmit'));
  const form = h('form', { class: 'review-form', 'data-testid': 'review-form', onsubmit: async (e) => {
    e.preventDefault();
    submit.disabled = true;
    mount(status);
    try {
      const rating = Number(form.querySelector('input[name=rating]:checked')?.value || 5);
      const data = await gql(`mutation Review($p: ID!, $r: Int!, $b: String!) { writeReview(performanceId: $p, rating: $r, body: $b) { id rating body createdAt } }`,
        { p: performanceId, r: rating, b: body.value });
      list.prepend(reviewItem(data.writeReview));
      form.reset();
      mount(status, h('p', { class: 'notice success' }, t('perf.reviewDone')));
      announce(t('perf.reviewDone'));
    } catch (err) {
      // The API decides who may review (only buyers who attended); its words say why not.
      mount(status, h('p', { class: 'notice error', role: 'alert', 'data-testid': 'review-error' }, errorText(err)));
    }
    submit.disabled = false;
  } },
  h('h3', null, t('perf.writeReview')),
  ratingGroup,
  h('div', { class: 'field' }, h('label', { for: 'review-body' }, t('perf.reviewBody')), body),
  submit, status);
  return form;
}

export async function performanceView(outlet, { params, signal }) {
  const [id] = params;
  outlet.append(loading());
  let perf;
  try {
    perf = (await gql(QUERY, { id, from: new Date().toISOString() }, { signal })).performance;
  } catch (err) {
    if (signal.aborted) return;
    mount(outlet, h('h1', null, t('error.generic')), errorBox(err, { retry: refresh }));
    return;
  }
  if (signal.aborted) return;
  if (!perf) {
    mount(outlet, h('h1', null, t('notFound.title')), notice(t('error.notFound')));
    return;
  }
  setTitle(perf.title);

  const sessions = perf.sessions.length
    ? h('ul', { class: 'sessions', 'data-testid': 'sessions' }, perf.sessions.map((session) => {
      const open = session.saleState === 'ON_SALE' || session.saleState === 'SOLD_OUT';
      return h('li', {
        class: 'session-row',
        'data-testid': 'session-row',
        'data-session-id': session.id,
        'data-sale-state': session.saleState,
        'data-available': session.availableSeatCount,
      },
      h('span', { class: 'when' }, h('time', { datetime: session.startsAt }, dateTime(session.startsAt))),
      badge(t(`sale.${session.saleState}`), `sale-${session.saleState.toLowerCase()}`),
      h('span', { class: 'seats' }, t('perf.seats', { a: number(session.availableSeatCount), t: number(session.totalSeatCount) })),
      open ? h('a', { class: 'button primary small', href: `#/sessions/${session.id}`, 'data-testid': 'session-link' },
        t('perf.choose'), h('span', { class: 'visually-hidden' }, ` — ${dateTime(session.startsAt)}`)) : h('span'));
    }))
    : h('p', null, t('perf.noSessions'));

  const reviewList = h('ul', { class: 'reviews', 'data-testid': 'reviews' }, perf.reviews.edges.map((e) => reviewItem(e.node)));
  const img = loadableUrl(perf.posterUrl);

  mount(outlet,
    h('article', { class: 'performance' },
      h('div', { class: 'perf-head' },
        poster(perf, img, 'large'),
        h('div', { class: 'perf-info' },
          badge(t(`genre.${perf.genre}`), 'genre'),
          h('h1', { 'data-testid': 'performance-title' }, perf.title),
          perf.englishTitle ? h('p', { class: 'subtitle', lang: 'en' }, perf.englishTitle) : null,
          h('p', { class: 'rating-line' }, perf.averageRating != null
            ? [stars(perf.averageRating), ' ', t('perf.rating', { r: perf.averageRating.toFixed(1), n: perf.reviewCount })]
            : t('perf.noRating')),
          h('dl', { class: 'facts' },
            h('dt', null, t('perf.venue')), h('dd', null, `${perf.venue.name} (${perf.venue.region})`, h('br'), h('small', null, perf.venue.address)),
            h('dt', null, t('perf.period')), h('dd', null, `${day(perf.startDate)} – ${day(perf.endDate)}`),
            h('dt', null, t('perf.runtime')), h('dd', null, t('perf.running', { n: perf.runningMinutes })),
            h('dt', null, t('perf.age')), h('dd', null, perf.minimumAge ? t('perf.ageFrom', { n: perf.minimumAge }) : t('perf.allAges'))),
          perf.description ? h('p', { class: 'description' }, perf.description) : null)),
      h('section', { 'aria-labelledby': 'sessions-heading' },
        h('h2', { id: 'sessions-heading' }, t('perf.sessions')), sessions),
      h('div', { class: 'two-col' },
        h('section', { 'aria-labelledby': 'cast-heading' },
          h('h2', { id: 'cast-heading' }, t('perf.cast')),
          h('ul', { class: 'cast', 'data-testid': 'cast' }, perf.cast.map((c) => h('li', null,
            h('span', { class: 'role' }, c.role), ' ', h('span', { class: 'name' }, c.castMember.name),
            c.castMember.englishName ? h('span', { class: 'en', lang: 'en' }, ` ${c.castMember.englishName}`) : null)))),
        h('section', { 'aria-labelledby': 'prices-heading' },
          h('h2', { id: 'prices-heading' }, t('perf.prices')),
          h('table', { class: 'prices', 'data-testid': 'prices' },
            h('tbody', null, perf.priceTiers.map((p) => h('tr', null, h('th', { scope: 'row' }, p.grade), h('td', null, price(p.price)))))))),
      h('section', { 'aria-labelledby': 'reviews-heading' },
        h('h2', { id: 'reviews-heading' }, t('perf.reviews')),
        isLoggedIn() ? reviewForm(perf.id, reviewList)
          : h('p', { class: 'hint' }, t('perf.reviewLogin'), ' ', h('a', { href: href('/login', { next: `/performances/${perf.id}` }) }, t('nav.login'))),
        reviewList)));
}
