// Where Toss's payment window sends the buyer back: /#/pay/success?paymentKey&orderId&amount
// (confirm it with the server) or /#/pay/fail?code&message (the message is not shown).

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

const POLL_MS = 3000;
const RESERVATION_QUERY = `query Res($id: ID!) { reservation(id: $id) { ${RESERVATION_FIELDS} } }`;
const MINE_QUERY = `query Find($s: ReservationStatus) { myReservations(first: 20, status: $s) { edges { node { ${RESERVATION_FIELDS} } } } }`;
// Toss's code for the buyer closing its window; other codes get the general message.
const TOSS_CANCELLED = 'PAY_PROCESS_CANCELED';
// Toss's error codes are upper-case words joined by underscores; anything else in the URL
// was not written by Toss and is not shown.
const SAFE_CODE = /^[A-Z_]{1,64}$/;

/**
 * The buyer's reservation of `orderId`, in whatever status it is now. It may already be
 * CONFIRMED: the webhook, a second tab or an earlier visit to this page got there first.
 */
async function findReservation(orderId) {
  // The tab that opened Toss's window noted the reservation: ask for it directly.
  const saved = pendingOrder(orderId);
  if (saved?.reservationId) {
    try {
      const data = await gql(RESERVATION_QUERY, { id: saved.reservationId });
      if (data.reservation?.orderId === orderId) return data.reservation;
    } catch (err) {
      if (!(err instanceof ApiError) || err.code !== 'NOT_FOUND') throw err;
    }
  }
  // Otherwise look through the buyer's recent reservations (newest first): the API has no
  // look-up by order id.
  for (const status of ['HELD', 'PAYING', 'CONFIRMED']) {
    const data = await gql(MINE_QUERY, { s: status });
    const match = data.myReservations.edges.map((e) => e.node).find((r) => r.orderId === orderId);
    if (match) return match;
  }
  return null;
}

/** Waits `ms`, or less when the page is left meanwhile. */
function pause(ms, signal) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

/** Watches a PAYING reservation until the server settles it; null if the page is left. */
async function settled(id, signal) {
  for (;;) {
    await pause(POLL_MS, signal);
    if (signal.aborted) return null;
    try {
      const data = await gql(RESERVATION_QUERY, { id }, { signal });
      if (data.reservation?.status !== 'PAYING') return data.reservation;
    } catch {
      if (signal.aborted) return null;
      // Keep watching; a blip in the connection does not settle anything.
    }
  }
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
    let reservation = await findReservation(orderId);
    if (signal.aborted) return;
    if (!reservation) throw new ApiError('', 'NOT_FOUND');
    if (reservation.status === 'HELD') {
      // The amount must be what the server recorded; the one in the URL is only checked.
      if (amount && amount !== reservation.amount) throw new ApiError(t('error.generic'), 'BAD_USER_INPUT');
      try {
        reservation = await confirmPayment(reservation, paymentKey);
      } catch (err) {
        if (!(err instanceof ApiError) || err.code !== 'PAYMENT_PENDING') throw err;
        reservation = { ...reservation, status: 'PAYING' };
      }
      if (signal.aborted) return;
    }
    if (reservation.status === 'PAYING') {
      // Being settled (this confirmation's outcome is unknown, or an earlier one's is):
      // say so, and wait for the server rather than confirm a second time.
      mount(status, h('div', { class: 'notice warning', role: 'status', 'data-testid': 'payment-pending' }, h('p', null, t('hold.pending'))));
      announce(t('hold.pending'));
      reservation = await settled(reservation.id, signal);
      if (signal.aborted) return;
      if (!reservation) throw new ApiError('', 'NOT_FOUND');
    }
    if (reservation.status === 'HELD') throw new ApiError(t('hold.pendingHeld'), 'NOT_PAID');
    if (reservation.status !== 'CONFIRMED') {
      throw new ApiError(t('pay.notPayable', { status: t(`res.${reservation.status}`) }), 'NOT_PAID');
    }
    forgetOrder(orderId);
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
  // Anyone can send a buyer to this address with any `message`, so Toss's text is not
  // shown: a fixed message of ours is, with Toss's code when it looks like one. Nothing
  // was charged: Toss only takes the money when the server confirms the payment.
  const rawCode = params.get('code') || '';
  const code = SAFE_CODE.test(rawCode) ? rawCode : '';
  mount(outlet, h('h1', null, t('pay.failTitle')),
    h('div', { class: 'notice error', role: 'alert', 'data-testid': 'payment-error', 'data-code': code },
      h('p', null, code === TOSS_CANCELLED ? t('pay.cancelled') : t('pay.failed')),
      code && code !== TOSS_CANCELLED ? h('p', { class: 'muted' }, t('pay.failCode', { code })) : null,
      h('p', null, saved?.sessionId ? h('a', { href: `#/sessions/${saved.sessionId}` }, t('pay.backToSeats')) : h('a', { href: '#/me' }, t('nav.me')))));
}

export function notFoundView(outlet) {
  setTitle(t('notFound.title'));
  mount(outlet, h('h1', null, t('notFound.title')), h('p', null, t('error.notFound')), h('p', null, h('a', { href: '#/' }, t('notFound.home'))));
}
