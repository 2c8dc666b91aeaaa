// Where Toss's payment window sends the buyer back: /#/pay/success?paymentKey&orderId&amount
// (confirm it with the server) or /#/pay/fail?code&message.

import { h, mount } from '../dom.js';
import { t, price } from '../i18n.js';
import { gql, ApiError } from '../api.js';
import { announce } from '../announce.js';
import { errorText, setTitle, loading } from '../ui.js';
import { confirmPayment, pendingOrder, forgetOrder, RESERVATION_FIELDS } from '../payment.js';

// Toss appends its parameters to the return URL; with a #route in that URL they may land
// in the query string proper or after the hash, so both are read.
function returnParams(query) {
  const params = new URLSearchParams(window.location.search);
  for (const [k, v] of query) if (!params.has(k)) params.set(k, v);
  return params;
}

// The parameters are read once: reloading the page must not confirm the order again.
function forgetParams() {
  history.replaceState(null, '', `${window.location.pathname}${window.location.hash.split('?')[0]}`);
}

async function findReservation(orderId) {
  const saved = pendingOrder(orderId);
  for (const status of ['HELD', 'PAYING']) {
    const data = await gql(`query Find($s: ReservationStatus) { myReservations(first: 20, status: $s) { edges { node { ${RESERVATION_FIELDS} } } } }`, { s: status });
    const match = data.myReservations.edges.map((e) => e.node).find((r) => r.orderId === orderId || r.id === saved?.reservationId);
    if (match) return match;
  }
  return null;
}

export async function paySuccessView(outlet, { query, signal }) {
  setTitle(t('pay.title'));
  const params = returnParams(query);
  const paymentKey = params.get('paymentKey');
  const orderId = params.get('orderId');
  const amount = Number(params.get('amount'));
  const status = h('div', { 'data-testid': 'pay-result' }, loading());
  mount(outlet, h('h1', null, t('pay.title')), status);
  if (!paymentKey || !orderId) {
    mount(status, h('p', { class: 'notice info' }, t('pay.missing'), ' ', h('a', { href: '#/me' }, t('hold.seeTickets'))));
    return;
  }
  forgetParams();
  announce(t('pay.confirming'));
  try {
    const reservation = await findReservation(orderId);
    if (signal.aborted) return;
    if (!reservation) throw new ApiError('', 'NOT_FOUND');
    if (reservation.status === 'CONFIRMED') {
      // Already settled (a webhook or a second tab got there first).
    } else {
      // The amount must be what the server recorded; the one in the URL is only checked.
      if (amount && amount !== reservation.amount) throw new ApiError(t('error.generic'), 'BAD_USER_INPUT');
      const paid = await confirmPayment(reservation, paymentKey);
      if (paid.status !== 'CONFIRMED') throw new ApiError(t('hold.pending'), 'PAYMENT_PENDING');
    }
    forgetOrder(orderId);
    if (signal.aborted) return;
    mount(status, h('div', { class: 'notice success', role: 'status', 'data-testid': 'payment-success' },
      h('p', null, t('hold.paid'), ' ', price(reservation.amount)),
      h('p', null, h('a', { class: 'button primary', href: '#/me' }, t('hold.seeTickets')))));
    announce(t('hold.paid'), { assertive: true });
  } catch (err) {
    if (signal.aborted) return;
    const code = err instanceof ApiError ? err.code : '';
    const text = code === 'PAYMENT_FAILED' ? [err.message, t('hold.failed')].join(' ')
      : code === 'PAYMENT_UNAVAILABLE' ? t('hold.unavailable')
        : code === 'PAYMENT_PENDING' ? t('hold.pending') : errorText(err);
    const saved = pendingOrder(orderId);
    mount(status, h('div', { class: 'notice error', role: 'alert', 'data-testid': 'payment-error', 'data-code': code },
      h('p', null, text),
      saved?.sessionId ? h('p', null, h('a', { href: `#/sessions/${saved.sessionId}` }, t('pay.backToSeats'))) : h('p', null, h('a', { href: '#/me' }, t('nav.me')))));
  }
}

export function payFailView(outlet, { query }) {
  setTitle(t('pay.failTitle'));
  const params = returnParams(query);
  const orderId = params.get('orderId');
  const saved = orderId ? pendingOrder(orderId) : null;
  forgetParams();
  // Toss's message is for the buyer (e.g. the window was closed); nothing was charged.
  mount(outlet, h('h1', null, t('pay.failTitle')),
    h('div', { class: 'notice error', role: 'alert', 'data-testid': 'payment-error', 'data-code': params.get('code') || '' },
      h('p', null, params.get('message') || t('error.generic')),
      h('p', null, saved?.sessionId ? h('a', { href: `#/sessions/${saved.sessionId}` }, t('pay.backToSeats')) : h('a', { href: '#/me' }, t('nav.me')))));
}

export function notFoundView(outlet) {
  setTitle(t('notFound.title'));
  mount(outlet, h('h1', null, t('notFound.title')), h('p', null, t('error.notFound')), h('p', null, h('a', { href: '#/' }, t('notFound.home'))));
}
