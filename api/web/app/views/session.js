// A session's seat map, live over graphql-ws, with choosing, holding and checkout.

import { h, mount } from '../dom.js';
import { t, price, dateTime, time, seatName, number } from '../i18n.js';
import { gql, newKey, ApiError } from '../api.js';
import { subscribe, onLiveStatus, liveStatus } from '../live.js';
import { isLoggedIn } from '../auth.js';
import { announce } from '../announce.js';
import { createSeatMap, gradeColors, legend } from '../seatmap.js';
import { createCheckout } from '../checkout.js';
import { RESERVATION_FIELDS, paymentProvider } from '../payment.js';
import { errorBox, loading, setTitle, notice, badge } from '../ui.js';
import { href, refresh } from '../router.js';

// The API lets a buyer hold at most 4 seats per session (README, "Holding seats").
const MAX_SEATS = 4;

const SESSION_QUERY = `query SessionPage($id: ID!) {
  session(id: $id) {
    id startsAt saleState availableSeatCount totalSeatCount
    prices { grade price }
    waitingRoom { enabled }
    performance { id title englishTitle venue { name region } }
  }
  seatMap(sessionId: $id) { version availableCount seats { id section row number grade status x y accessible } }
}`;

// One fixed document: subscribers that send identical text share one encoding server-side.
const SEAT_UPDATES = `subscription SeatMapUpdates($s: ID!, $after: Int) {
  seatMapUpdates(sessionId: $s, afterVersion: $after) {
    __typename
    ... on SeatMapSnapshot { version availableCount seats { id status } }
    ... on SeatMapDelta { version fromVersion availableCount changes { seatId status } }
  }
}`;

// A buyer's reservations in one status: HELD and PAYING are the ones a reload picks up.
const MINE_QUERY = `query MyHolds($s: ReservationStatus) { myReservations(first: 20, status: $s) { edges { node { ${RESERVATION_FIELDS} } } } }`;

export async function sessionView(outlet, { params, signal }) {
  const [sessionId] = params;
  outlet.append(loading());
  let data;
  let provider;
  try {
    [data, provider] = await Promise.all([gql(SESSION_QUERY, { id: sessionId }, { signal }), paymentProvider()]);
  } catch (err) {
    if (signal.aborted) return null;
    mount(outlet, h('h1', null, t('map.title')), errorBox(err, { retry: refresh }));
    return null;
  }
  if (signal.aborted) return null;
  const { session, seatMap } = data;
  if (!session || !seatMap) {
    mount(outlet, h('h1', null, t('notFound.title')), notice(t('error.notFound')));
    return null;
  }
  const perf = session.performance;
  setTitle(`${perf.title} · ${dateTime(session.startsAt)}`);

  const priceByGrade = new Map(session.prices.map((p) => [p.grade, p.price]));
  const colors = gradeColors(session.prices.map((p) => p.grade));
  let version = seatMap.version;
  let available = seatMap.availableCount;
  let checkout = null;
  let holding = new Set(); // seats of a hold request in flight: their turning HELD is ours
  let holdKey = null; // reused only to retry the very same request after a lost answer
  const cleanups = [];

  // Live announcements are gathered for a moment, so a burst is one sentence, not fifty.
  let pendingChanges = 0;
  let announceTimer = null;
  function noteChanges(n) {
    pendingChanges += n;
    clearTimeout(announceTimer);
    announceTimer = setTimeout(() => {
      if (pendingChanges) announce(t('map.changed', { n: pendingChanges, a: number(available) }));
      pendingChanges = 0;
    }, 1500);
  }
  cleanups.push(() => clearTimeout(announceTimer));

  const availability = h('p', { class: 'availability', 'data-testid': 'availability' });
  const liveBadge = h('span', { class: 'live-badge', 'data-testid': 'live-status', 'data-state': 'connecting' });
  function drawAvailability() {
    availability.textContent = t('map.available', { a: number(available), t: number(session.totalSeatCount) });
  }
  function drawLive(state) {
    liveBadge.setAttribute('data-state', state);
    liveBadge.textContent = state === 'live' ? t('map.live') : state === 'retrying' ? t('map.offline') : t('map.connecting');
  }
  drawAvailability();
  drawLive('connecting');

  const message = h('div', { class: 'map-message', 'data-testid': 'map-message' });
  function say(text, kind = 'info', assertive = false) {
    mount(message, text ? h('div', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, h('p', null, text)) : null);
    if (text && kind !== 'error') announce(text, { assertive });
  }

  const map = createSeatMap(seatMap.seats, {
    colors,
    priceOf: (grade) => priceByGrade.get(grade),
    max: MAX_SEATS,
    onChange: drawSelection,
    onRefused: (text) => say(text, 'warning'),
  });

  // --- the side panel: selection, best available, checkout --------------------------------
  const side = h('div', { class: 'side' });
  const selectionList = h('ul', { class: 'selection-list', 'data-testid': 'selection-list' });
  const selectionTotal = h('strong', { 'data-testid': 'selection-total' });
  const holdButton = h('button', { type: 'button', class: 'button primary wide', 'data-testid': 'hold-button', onclick: holdChosen }, t('map.hold'));
  const clearButton = h('button', { type: 'button', class: 'button secondary', 'data-testid': 'clear-selection', onclick: () => map.clearSelection() }, t('map.clear'));
  const selectionPanel = h('section', { class: 'panel selection', 'aria-labelledby': 'selection-heading' },
    h('h2', { id: 'selection-heading' }, t('map.selection')),
    selectionList,
    h('p', { class: 'row total' }, h('span', null, t('map.total')), selectionTotal),
    h('div', { class: 'actions' }, holdButton, clearButton));

  const bestCount = h('select', { id: 'best-count', 'data-testid': 'best-count' },
    [1, 2, 3, 4].map((n) => h('option', { value: n, selected: n === 2 }, String(n))));
  const bestGrade = h('select', { id: 'best-grade', 'data-testid': 'best-grade' },
    session.prices.map((p) => h('option', { value: p.grade }, `${p.grade} · ${price(p.price)}`)));
  const bestForm = h('form', { class: 'panel best', 'aria-labelledby': 'best-heading', 'data-testid': 'best-form', onsubmit: (e) => { e.preventDefault(); holdBest(); } },
    h('h2', { id: 'best-heading' }, t('map.best')),
    h('div', { class: 'inline' },
      h('div', { class: 'field' }, h('label', { for: 'best-count' }, t('map.bestCount')), bestCount),
      h('div', { class: 'field grow' }, h('label', { for: 'best-grade' }, t('map.bestGrade')), bestGrade)),
    h('button', { type: 'submit', class: 'button secondary wide', 'data-testid': 'best-submit' }, t('map.bestSubmit')));

  const canBuy = session.saleState === 'ON_SALE' || session.saleState === 'SOLD_OUT';
  const gate = !canBuy ? notice(t('map.notOnSale', { state: t(`sale.${session.saleState}`) }), { kind: 'warning' })
    : !isLoggedIn() ? h('div', { class: 'notice info', 'data-testid': 'login-to-hold' },
      h('p', null, t('map.loginToHold'), ' ', h('a', { href: href('/login', { next: `/sessions/${sessionId}` }) }, t('nav.login'))))
      : session.waitingRoom?.enabled ? notice(t('map.waitingRoom'), { kind: 'info' }) : null;

  function drawSelection(chosen) {
    mount(selectionList, chosen.length
      ? chosen.map((seat) => h('li', { 'data-seat-id': seat.id },
        h('span', null, seatName(seat)), ' ', h('span', { class: 'grade' }, seat.grade), ' ', h('span', { class: 'price' }, price(priceByGrade.get(seat.grade)))))
      : h('li', { class: 'empty' }, t('map.none')));
    selectionTotal.textContent = price(chosen.reduce((sum, seat) => sum + (priceByGrade.get(seat.grade) || 0), 0));
    holdButton.disabled = chosen.length === 0 || !isLoggedIn() || !canBuy || !!checkout;
    holdKey = null; // a new choice is a new request
  }

  function drawSide() {
    if (checkout) {
      mount(side, checkout.element);
    } else {
      mount(side, gate, selectionPanel, isLoggedIn() && canBuy ? bestForm : null);
    }
  }

  function showCheckout(reservation, { focus = true } = {}) {
    checkout?.destroy();
    map.setMine(reservation.seats.filter((x) => x.active !== false).map((x) => x.id));
    checkout = createCheckout({
      reservation,
      sessionId,
      performanceId: perf.id,
      provider,
      seatLabel: (id) => {
        const seat = map.seat(id);
        return seat ? seatName(seat) : null;
      },
      onEnd: (kind) => {
        if (kind === 'released') {
          map.setMine([]);
          checkout.destroy();
          checkout = null;
          drawSide();
          drawSelection(map.selected());
          say(t('hold.released'), 'info');
          holdButton.focus();
        } else if (kind === 'expired') {
          map.setMine([]);
          say(t('hold.expired'), 'warning', true);
        }
        // Paid: the panel shows the outcome and links to the tickets; seats stay marked.
      },
    });
    drawSide();
    drawSelection(map.selected());
    if (focus) checkout.focus();
  }
  cleanups.push(() => checkout?.destroy());

  async function placeHold(request, seatIds) {
    say(t('hold.placing'));
    holdButton.disabled = true;
    holding = new Set(seatIds);
    try {
      const reservation = await request();
      map.clearSelection();
      holding = new Set();
      say(t('hold.placed', { n: reservation.seatCount, time: time(reservation.expiresAt) }), 'success', true);
      holdKey = null;
      showCheckout(reservation);
    } catch (err) {
      holding = new Set();
      drawSelection(map.selected());
      if (err instanceof ApiError && err.code === 'SEAT_UNAVAILABLE') {
        const taken = err.extensions?.seatIds || [];
        // Taken, whether held or sold: drawn as held until the live map says which.
        map.setStatuses(taken.filter((id) => map.seat(id)?.status === 'AVAILABLE').map((id) => ({ seatId: id, status: 'HELD' })));
        map.flash(taken);
        map.deselect(taken);
        const names = taken.map((id) => map.seat(id)).filter(Boolean).map(seatName).join(', ');
        mount(message, h('div', { class: 'notice error', role: 'alert', 'data-testid': 'hold-error', 'data-code': err.code },
          h('p', null, err.message), names ? h('p', null, t('map.takenNow', { seats: names })) : null));
        holdKey = null;
      } else {
        // A lost answer may still have made the hold: retrying with the same key is safe.
        if (!(err instanceof ApiError) || !['NETWORK', 'UNAVAILABLE'].includes(err.code)) holdKey = null;
        mount(message, errorBox(err, { testid: 'hold-error' }));
        if (err.code === 'UNAUTHENTICATED') drawSide();
      }
    }
  }

  function holdChosen() {
    const seatIds = map.selected().map((x) => x.id);
    if (!seatIds.length) return;
    holdKey = holdKey || newKey();
    const key = holdKey;
    placeHold(async () => (await gql(`mutation Hold($s: ID!, $seats: [ID!]!, $k: String!) {
      holdSeats(sessionId: $s, seatIds: $seats, idempotencyKey: $k) { ${RESERVATION_FIELDS} } }`, { s: sessionId, seats: seatIds, k: key })).holdSeats, seatIds);
  }

  function holdBest() {
    const key = newKey();
    placeHold(async () => (await gql(`mutation Best($s: ID!, $n: Int!, $g: String!, $k: String!) {
      holdBestAvailable(sessionId: $s, count: $n, grade: $g, idempotencyKey: $k) { ${RESERVATION_FIELDS} } }`,
    { s: sessionId, n: Number(bestCount.value), g: bestGrade.value, k: key })).holdBestAvailable, []);
  }

  // --- the page --------------------------------------------------------------------------
  mount(outlet,
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: `#/performances/${perf.id}` }, perf.title)),
    h('h1', { 'data-testid': 'session-title' }, perf.title),
    h('p', { class: 'session-meta' },
      h('span', null, dateTime(session.startsAt)), ' · ', h('span', null, perf.venue.name), ' · ',
      badge(t(`sale.${session.saleState}`), `sale-${session.saleState.toLowerCase()}`)),
    h('div', { class: 'session-layout' },
      h('section', { class: 'map-panel', 'aria-labelledby': 'map-heading' },
        h('div', { class: 'map-head' }, h('h2', { id: 'map-heading' }, t('map.title')), liveBadge, availability),
        h('p', { class: 'hint', id: 'map-help' }, t('map.help', { max: MAX_SEATS })),
        message,
        map.element,
        legend(session.prices, colors, map.ids)),
      h('aside', { class: 'side-panel', 'aria-label': t('map.selection') }, side)));
  map.element.querySelector('svg').setAttribute('aria-describedby', 'map-help');
  drawSelection([]);
  drawSide();

  // --- live updates ------------------------------------------------------------------------
  let subscribed = false;
  let unsubscribe = null;
  function onEvent(payload) {
    if (payload.errors?.length) {
      say(payload.errors[0].message, 'error');
      return;
    }
    const event = payload.data?.seatMapUpdates;
    if (!event) return;
    if (event.__typename === 'SeatMapSnapshot') {
      // A snapshot replaces whatever we had: the first event, or a resync after falling behind.
      const lost = map.replaceAll(event.seats);
      version = event.version;
      available = event.availableCount;
      subscribed = true;
      map.element.setAttribute('data-live', 'live');
      map.element.setAttribute('data-version', String(version));
      drawLive('live');
      lostSeats(lost);
    } else {
      if (event.version <= version) return; // already seen (a resubscribe can overlap)
      if (event.fromVersion > version) {
        // A gap: ask again from the last version we saw; the server fills it in.
        restart();
        return;
      }
      const lost = map.setStatuses(event.changes);
      version = event.version;
      available = event.availableCount;
      map.element.setAttribute('data-version', String(version));
      noteChanges(event.changes.length);
      lostSeats(lost);
    }
    drawAvailability();
  }
  function lostSeats(lost) {
    const others = lost.filter((seat) => !holding.has(seat.id));
    if (!others.length) return;
    map.deselect(others.map((x) => x.id));
    say(t('map.takenNow', { seats: others.map(seatName).join(', ') }), 'warning', true);
  }
  function start() {
    unsubscribe = subscribe({
      query: SEAT_UPDATES,
      // The first subscription asks for a snapshot; a resumed one only for what it missed.
      variables: () => ({ s: sessionId, after: subscribed ? version : null }),
      next: onEvent,
      error: (errors) => {
        say(errors?.[0]?.message || t('error.generic'), 'error');
        drawLive('retrying');
        retryTimer = setTimeout(restart, 5000);
      },
      complete: () => { retryTimer = setTimeout(restart, 1000); },
      disconnected: () => drawLive('retrying'),
      reconnected: () => drawLive(subscribed ? 'live' : 'connecting'),
    });
  }
  let retryTimer = null;
  function restart() {
    clearTimeout(retryTimer);
    unsubscribe?.();
    start();
  }
  start();
  const offStatus = onLiveStatus((state) => { if (state !== 'live') drawLive(state); });
  if (liveStatus() === 'retrying') drawLive('retrying');
  cleanups.push(() => { clearTimeout(retryTimer); unsubscribe?.(); offStatus(); });

  // A hold made earlier (another tab, a reload) is picked up where it was left: still HELD,
  // or PAYING (a reload while a payment was being confirmed), which the checkout shows as
  // pending and watches until it settles, as it does after paying here.
  if (isLoggedIn()) {
    Promise.all(['HELD', 'PAYING'].map((s) => gql(MINE_QUERY, { s }))).then((lists) => {
      if (signal.aborted || checkout) return;
      const mine = lists.flatMap((list) => list.myReservations.edges.map((e) => e.node)).find((r) => r.session.id === sessionId);
      if (mine) {
        showCheckout(mine, { focus: false });
        say(t(mine.status === 'PAYING' ? 'hold.resumedPaying' : 'hold.resumed'), 'info');
      }
    }).catch(() => {});
  }

  return () => cleanups.forEach((fn) => fn());
}
