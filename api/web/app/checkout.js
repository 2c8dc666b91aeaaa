// The checkout panel for a held reservation: what is held, a countdown to `expiresAt`,
// an optional coupon, payment, and letting the seats go.

import { h, mount } from './dom.js';
import { t, price, time } from './i18n.js';
import { gql, ApiError, serverNow } from './api.js';
import { announce } from './announce.js';
import { errorText } from './ui.js';
import { RESERVATION_FIELDS, confirmPayment, simulatedPaymentKey, payWithToss } from './payment.js';
import { currentUser } from './auth.js';

const POLL_MS = 3000;
const RESERVATION_QUERY = `query Res($id: ID!) { reservation(id: $id) { ${RESERVATION_FIELDS} } }`;

function couponText(c) {
  const off = c.discountAmount != null ? t('coupon.amountOff', { amount: price(c.discountAmount) })
    : [t('coupon.percentOff', { p: c.discountPercent }), c.maxDiscount != null ? t('coupon.upTo', { amount: price(c.maxDiscount) }) : ''].filter(Boolean).join(' ');
  const min = c.minimumOrderAmount ? ` (${t('coupon.min', { amount: price(c.minimumOrderAmount) })})` : '';
  return `${c.name} — ${off}${min}`;
}

/**
 * options: { reservation, sessionId, performanceId, provider, seatLabel(id), onEnd(kind, reservation) }
 * onEnd kinds: 'paid', 'released', 'expired'.
 */
export function createCheckout({ reservation: initial, sessionId, performanceId, provider, seatLabel, onEnd }) {
  let reservation = initial;
  let ended = false;
  let busy = false;
  let pollTimer = null;
  let warned = false;
  let checkingExpiry = false;
  let nextExpiryCheck = 0;

  const heading = h('h2', { tabindex: '-1', id: 'checkout-heading' }, t('hold.title'));
  const countdown = h('strong', { class: 'countdown', 'data-testid': 'countdown' }, '--:--');
  const amount = h('strong', { 'data-testid': 'checkout-amount' });
  const discountRow = h('div', { class: 'row discount-row' });
  const seatList = h('ul', { class: 'held-seats', 'data-testid': 'held-seats' });
  const status = h('div', { class: 'checkout-status', role: 'status', 'data-testid': 'checkout-status' });
  const couponBox = h('div', { class: 'coupon-box' });

  const payButton = provider.simulated
    ? h('button', { type: 'button', class: 'button primary wide', 'data-testid': 'pay-simulated', onclick: () => pay(simulatedPaymentKey()) }, t('hold.paySimulated'))
    : h('button', { type: 'button', class: 'button primary wide', 'data-testid': 'pay-toss', onclick: payToss });
  const releaseButton = h('button', { type: 'button', class: 'button secondary wide', 'data-testid': 'release-hold', onclick: release }, t('hold.release'));

  const body = h('div', { class: 'checkout-body' },
    h('p', { class: 'order-name' }, h('span', { class: 'label' }, t('hold.order')), ' ', reservation.orderName || ''),
    seatList,
    discountRow,
    h('div', { class: 'row total' }, h('span', null, t('hold.amount')), amount),
    h('p', { class: 'row' }, h('span', null, t('hold.expiresIn')), countdown),
    couponBox,
    status,
    h('div', { class: 'actions' }, payButton, releaseButton),
    h('p', { class: 'hint' }, t('hold.provider', { name: provider.simulated ? 'SIMULATED' : provider.name })));

  const element = h('section', { class: 'panel checkout', 'aria-labelledby': 'checkout-heading', 'data-testid': 'checkout', 'data-reservation-id': reservation.id }, heading, body);

  function draw() {
    mount(seatList, reservation.seats.filter((x) => x.active !== false).map((seat) =>
      h('li', { 'data-seat-id': seat.id }, h('span', null, seatLabel(seat.id) || seat.grade), ' ', h('span', { class: 'grade' }, seat.grade), ' ', h('span', { class: 'price' }, price(seat.price)))));
    amount.textContent = price(reservation.amount);
    mount(discountRow, reservation.discount ? [h('span', null, t('hold.discount')), h('span', null, `−${price(reservation.discount)}`)] : []);
    if (!provider.simulated) payButton.textContent = t('hold.payToss', { amount: price(reservation.amount) });
    element.setAttribute('data-status', reservation.status);
  }

  function say(text, kind = 'info', { assertive = false } = {}) {
    mount(status, text ? h('p', { class: `notice ${kind}` }, text) : null);
    if (text) announce(text, { assertive });
  }

  function setBusy(next) {
    busy = next;
    payButton.disabled = next;
    releaseButton.disabled = next;
    for (const el of couponBox.querySelectorAll('select, button')) el.disabled = next;
  }

  function tick() {
    if (ended) return;
    if (reservation.status === 'PAYING') return; // a payment under way does not lapse
    // `expiresAt` is the server's time: count down on the server's clock, not the device's.
    const left = Date.parse(reservation.expiresAt) - serverNow();
    if (left <= 0) {
      countdown.textContent = '00:00';
      confirmExpiry();
      return;
    }
    const secs = Math.ceil(left / 1000);
    countdown.textContent = `${String(Math.floor(secs / 60)).padStart(2, '0')}:${String(secs % 60).padStart(2, '0')}`;
    countdown.classList.toggle('urgent', secs <= 60);
    if (secs <= 60 && !warned) {
      warned = true;
      announce(t('hold.oneMinute'), { assertive: true });
    }
  }
  const ticker = setInterval(tick, 1000);

  // The countdown rests on an estimate of the server's clock, so the server has the last
  // word before the buyer is told the seats are gone: the hold may still run (the estimate
  // was off), or be paid already (the webhook, another tab). Until it answers the countdown
  // shows 00:00; an unreachable server is asked again every POLL_MS.
  async function confirmExpiry() {
    // A payment or coupon request in flight settles the status itself.
    if (checkingExpiry || busy || Date.now() < nextExpiryCheck) return;
    checkingExpiry = true;
    try {
      const data = await gql(RESERVATION_QUERY, { id: reservation.id });
      if (ended || busy) return;
      if (!data.reservation) {
        end('expired');
        return;
      }
      reservation = data.reservation;
      draw();
      switch (reservation.status) {
        case 'CONFIRMED':
          end('paid');
          break;
        case 'PAYING':
          setBusy(true);
          say(t('hold.pending'), 'warning', { assertive: true });
          waitForOutcome();
          break;
        case 'HELD':
          // Still held by the server's own clock (read again with this answer): keep
          // counting. A hold past its time that the sweeper has not yet marked EXPIRED
          // cannot be paid any more, so it has ended.
          if (Date.parse(reservation.expiresAt) <= serverNow()) end('expired');
          else tick();
          break;
        case 'RELEASED':
          end('released');
          break;
        default:
          end('expired');
      }
    } catch {
      nextExpiryCheck = Date.now() + POLL_MS;
    } finally {
      checkingExpiry = false;
    }
  }

  function end(kind) {
    if (ended) return;
    ended = true;
    clearInterval(ticker);
    clearTimeout(pollTimer);
    if (kind === 'paid') {
      mount(element,
        h('h2', { tabindex: '-1', id: 'checkout-heading' }, t('hold.paid')),
        h('div', { class: 'notice success', 'data-testid': 'payment-success', role: 'status' },
          h('p', null, t('hold.paid')),
          h('ul', { class: 'held-seats' }, reservation.seats.map((seat) => h('li', null, seatLabel(seat.id) || seat.grade))),
          h('p', null, h('a', { class: 'button primary', href: '#/me', 'data-testid': 'see-tickets' }, t('hold.seeTickets')))));
      element.setAttribute('data-status', 'CONFIRMED');
      element.querySelector('h2').focus();
      announce(t('hold.paid'), { assertive: true });
    } else if (kind === 'expired') {
      mount(element, h('div', { class: 'notice warning', role: 'alert', 'data-testid': 'hold-expired' }, h('p', null, t('hold.expired'))));
    }
    onEnd?.(kind, reservation);
  }

  async function pay(paymentKey) {
    if (busy || ended) return;
    setBusy(true);
    say(t('hold.paying'));
    try {
      const result = await confirmPayment(reservation, paymentKey);
      reservation = result;
      draw();
      if (result.status === 'CONFIRMED') end('paid');
      else if (result.status === 'PAYING') waitForOutcome();
      else setBusy(false);
    } catch (err) {
      handlePayError(err);
    }
  }

  function handlePayError(err) {
    const code = err instanceof ApiError ? err.code : '';
    if (code === 'PAYMENT_PENDING') {
      reservation = { ...reservation, status: 'PAYING' };
      say(t('hold.pending'), 'warning', { assertive: true });
      waitForOutcome();
      return;
    }
    setBusy(false);
    if (code === 'PAYMENT_FAILED') say([err.message, t('hold.failed')].filter(Boolean).join(' '), 'error', { assertive: true });
    else if (code === 'PAYMENT_UNAVAILABLE') say(t('hold.unavailable'), 'error', { assertive: true });
    else say(errorText(err), 'error', { assertive: true });
  }

  // PAYMENT_PENDING: the server settles it by asking the provider; watch the status.
  function waitForOutcome() {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(async () => {
      if (ended) return;
      try {
        const data = await gql(RESERVATION_QUERY, { id: reservation.id });
        reservation = data.reservation;
        draw();
        if (reservation.status === 'CONFIRMED') return end('paid');
        if (reservation.status === 'HELD') {
          setBusy(false);
          say(t('hold.pendingHeld'), 'warning', { assertive: true });
          return undefined;
        }
        if (reservation.status !== 'PAYING') return end('expired');
      } catch {
        // Keep watching; a blip in the connection does not settle anything.
      }
      waitForOutcome();
      return undefined;
    }, POLL_MS);
  }

  async function payToss() {
    if (busy || ended) return;
    setBusy(true);
    try {
      await payWithToss(provider.clientKey, reservation, sessionId, currentUser()?.name);
      // requestPayment normally leaves the page; if it returns, nothing was paid.
      setBusy(false);
    } catch (err) {
      setBusy(false);
      // Toss rejects with { code, message } when the buyer closes the window, for example.
      say(err?.message || t('hold.tossLoadFailed'), 'error', { assertive: true });
    }
  }

  async function release() {
    if (busy || ended) return;
    setBusy(true);
    try {
      const data = await gql(`mutation Release($r: ID!) { releaseHold(reservationId: $r) { ${RESERVATION_FIELDS} } }`, { r: reservation.id });
      reservation = data.releaseHold;
      announce(t('hold.released'));
      end('released');
    } catch (err) {
      setBusy(false);
      say(errorText(err), 'error', { assertive: true });
    }
  }

  async function loadCoupons() {
    let coupons;
    try {
      const data = await gql(`query MyCoupons { myCoupons { id status coupon { id name discountAmount discountPercent maxDiscount minimumOrderAmount active performance { id } } } }`);
      coupons = data.myCoupons;
    } catch {
      return; // coupons are optional; paying works without them
    }
    const appliedId = reservation.appliedCoupon?.id || '';
    const usable = coupons.filter((c) => c.coupon.active
      && (c.status === 'AVAILABLE' || c.id === appliedId)
      && (!c.coupon.performance || c.coupon.performance.id === performanceId));
    if (!usable.length || ended) return;
    const { wrapId, select } = (() => {
      const id = 'coupon-select';
      return { wrapId: id, select: h('select', { id, 'data-testid': 'coupon-select' },
        h('option', { value: '' }, t('hold.noCoupon')),
        usable.map((c) => h('option', { value: c.id, selected: c.id === appliedId }, couponText(c.coupon)))) };
    })();
    const apply = h('button', { type: 'button', class: 'button secondary', 'data-testid': 'apply-coupon', onclick: async () => {
      setBusy(true);
      try {
        const chosen = select.value;
        const data = chosen
          ? await gql(`mutation Apply($r: ID!, $c: ID!) { applyCoupon(reservationId: $r, userCouponId: $c) { ${RESERVATION_FIELDS} } }`, { r: reservation.id, c: chosen })
          : await gql(`mutation Remove($r: ID!) { removeCoupon(reservationId: $r) { ${RESERVATION_FIELDS} } }`, { r: reservation.id });
        reservation = chosen ? data.applyCoupon : data.removeCoupon;
        draw();
        say(chosen ? t('hold.couponApplied') : t('hold.couponRemoved'), 'success');
      } catch (err) {
        say(errorText(err), 'error', { assertive: true });
      }
      setBusy(false);
    } }, t('hold.applyCoupon'));
    mount(couponBox, h('label', { for: wrapId }, t('hold.coupon')), h('div', { class: 'inline' }, select, apply));
  }

  draw();
  tick();
  loadCoupons();
  if (reservation.status === 'PAYING') {
    setBusy(true);
    say(t('hold.pending'), 'warning');
    waitForOutcome();
  }

  return {
    element,
    focus: () => heading.focus(),
    reservation: () => reservation,
    destroy() {
      ended = true;
      clearInterval(ticker);
      clearTimeout(pollTimer);
    },
    expiresText: () => time(reservation.expiresAt),
  };
}
