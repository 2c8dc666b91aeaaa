// My page: tickets with their QR codes, bookings (pay, cancel), notifications, coupons.

import { h, mount } from '../dom.js';
import { t, price, dateTime, seatName } from '../i18n.js';
import { gql } from '../api.js';
import { isLoggedIn, currentUser } from '../auth.js';
import { announce } from '../announce.js';
import { errorBox, errorText, loading, setTitle, badge, loadableUrl, httpUrl } from '../ui.js';
import { href, refresh } from '../router.js';
import { onNotification, markedRead, refreshUnread, setUnreadCount } from '../notifications.js';

const QUERY = `query MyPage {
  me { id name email }
  myTickets(first: 50) { edges { node {
    id state refunded checkedInAt qrSvg qrPngUrl reservationId
    seat { id section row number grade }
    session { id startsAt performance { id title venue { name } } }
  } } }
  myReservations(first: 30) { edges { node {
    id status amount discount seatCount orderName expiresAt createdAt
    seats { id grade price active }
    tickets { id state seat { id section row number } }
    payment { method amount status refundedAmount receiptUrl }
    session { id startsAt performance { id title } }
  } } }
  myNotifications(first: 30) { edges { node { id kind title body readAt createdAt } } }
  unreadNotificationCount
  myCoupons { id status coupon { id name discountAmount discountPercent } }
  availableCoupons { id name discountAmount discountPercent maxDiscount minimumOrderAmount validUntil remainingCount }
}`;

export async function meView(outlet, { query, signal }) {
  setTitle(t('me.title'));
  if (!isLoggedIn()) {
    mount(outlet, h('h1', null, t('me.title')),
      h('p', { class: 'notice info' }, t('me.loginNeeded'), ' ', h('a', { href: href('/login', { next: '/me' }) }, t('nav.login'))));
    return null;
  }
  outlet.append(h('h1', null, t('me.title')), loading());
  let data;
  try {
    data = await gql(QUERY, {}, { signal });
  } catch (err) {
    if (signal.aborted) return null;
    mount(outlet, h('h1', null, t('me.title')), errorBox(err, { retry: refresh }));
    return null;
  }
  if (signal.aborted) return null;
  setUnreadCount(data.unreadNotificationCount);

  const blobUrls = [];
  const cleanups = [() => blobUrls.forEach((u) => URL.revokeObjectURL(u))];

  // --- tickets ------------------------------------------------------------------------------
  const tickets = data.myTickets.edges.map((e) => e.node);
  function qrImage(ticket) {
    const alt = t('me.qrAlt', { seat: seatName(ticket.seat) });
    // The SVG the API signs for the holder, shown through a blob: URL (an <img> runs no
    // script, and the CSP allows blob: images); the PNG link is for saving or printing.
    if (ticket.qrSvg) {
      const url = URL.createObjectURL(new Blob([ticket.qrSvg], { type: 'image/svg+xml' }));
      blobUrls.push(url);
      return h('img', { class: 'qr', src: url, alt, width: 160, height: 160, 'data-testid': 'ticket-qr' });
    }
    const png = loadableUrl(ticket.qrPngUrl);
    return png ? h('img', { class: 'qr', src: png, alt, width: 160, height: 160, 'data-testid': 'ticket-qr' }) : null;
  }
  const ticketSection = h('section', { 'aria-labelledby': 'tickets-heading', id: 'tickets' },
    h('h2', { id: 'tickets-heading' }, t('me.tickets')),
    tickets.length ? h('ul', { class: 'tickets', 'data-testid': 'tickets' }, tickets.map((ticket) => h('li', {
      class: `ticket state-${ticket.state.toLowerCase()}`,
      'data-testid': 'ticket',
      'data-ticket-id': ticket.id,
      'data-seat-id': ticket.seat.id,
      'data-state': ticket.state,
    },
    h('div', { class: 'ticket-info' },
      h('h3', null, ticket.session.performance.title),
      h('p', null, h('time', { datetime: ticket.session.startsAt }, dateTime(ticket.session.startsAt))),
      h('p', null, ticket.session.performance.venue.name),
      h('p', { class: 'seat' }, seatName(ticket.seat), ' · ', ticket.seat.grade),
      h('p', null, badge(t(`ticket.${ticket.state}`), `ticket-${ticket.state.toLowerCase()}`),
        ticket.refunded ? [' ', badge(t('me.refunded'), 'muted')] : null),
      ticket.checkedInAt ? h('p', null, t('me.checkedIn', { time: dateTime(ticket.checkedInAt) })) : null,
      loadableUrl(ticket.qrPngUrl) ? h('p', null, h('a', { href: loadableUrl(ticket.qrPngUrl), target: '_blank', rel: 'noopener' }, t('me.openPng'))) : null),
    ticket.state === 'VALID' ? qrImage(ticket) : null)))
      : h('p', null, t('me.noTickets')));

  // --- reservations -------------------------------------------------------------------------
  function cancelForm(reservation, item) {
    const reasonId = `reason-${reservation.id}`;
    const reason = h('input', { id: reasonId, type: 'text', required: true, maxlength: 200, 'data-testid': 'cancel-reason' });
    const status = h('div', { role: 'status' });
    const submit = h('button', { type: 'submit', class: 'button danger' }, t('me.cancelConfirm'));
    const form = h('form', { class: 'cancel-form', hidden: true, onsubmit: async (e) => {
      e.preventDefault();
      submit.disabled = true;
      try {
        await gql('mutation Cancel($id: ID!, $r: String!) { cancelReservation(id: $id, reason: $r) { id status } }', { id: reservation.id, r: reason.value.trim() });
        announce(t('me.cancelled'), { assertive: true });
        item.setAttribute('data-status', 'CANCELLED');
        refresh();
      } catch (err) {
        submit.disabled = false;
        mount(status, h('p', { class: 'notice error', role: 'alert' }, errorText(err)));
      }
    } }, h('label', { for: reasonId }, t('me.cancelReason')), reason, submit, status);
    const toggle = h('button', { type: 'button', class: 'button secondary small', 'aria-expanded': 'false', 'data-testid': 'cancel-open', onclick: () => {
      form.hidden = !form.hidden;
      toggle.setAttribute('aria-expanded', String(!form.hidden));
      if (!form.hidden) reason.focus();
    } }, t('me.cancel'));
    return [toggle, form];
  }

  const reservations = data.myReservations.edges.map((e) => e.node);
  const reservationSection = h('section', { 'aria-labelledby': 'res-heading', id: 'reservations' },
    h('h2', { id: 'res-heading' }, t('me.reservations')),
    reservations.length ? h('ul', { class: 'reservations', 'data-testid': 'reservations' }, reservations.map((r) => {
      const item = h('li', { class: 'reservation', 'data-testid': 'reservation', 'data-status': r.status, 'data-reservation-id': r.id });
      // Seats are named from the tickets once paid; before that the API gives grades only.
      const seatNames = r.tickets.length ? r.tickets.map((tk) => seatName(tk.seat))
        : r.seats.filter((x) => x.active).map((x) => x.grade);
      // The provider's receipt page; only an http(s) address becomes a link.
      const receipt = httpUrl(r.payment?.receiptUrl);
      mount(item,
        h('div', { class: 'res-head' },
          h('h3', null, h('a', { href: `#/performances/${r.session.performance.id}` }, r.session.performance.title)),
          badge(t(`res.${r.status}`), `res-${r.status.toLowerCase()}`)),
        h('p', null, h('time', { datetime: r.session.startsAt }, dateTime(r.session.startsAt)), ' · ', t('me.seats', { n: r.seatCount })),
        seatNames.length ? h('p', { class: 'seat-names' }, seatNames.join(', ')) : null,
        h('p', null, h('strong', null, price(r.amount)), r.discount ? ` (−${price(r.discount)})` : '',
          r.payment?.method ? [' · ', t('me.paidWith', { method: r.payment.method })] : null,
          receipt ? [' · ', h('a', { href: receipt, target: '_blank', rel: 'noopener noreferrer' }, t('me.receipt'))] : null),
        r.status === 'HELD' ? h('p', null, h('a', { class: 'button primary small', href: `#/sessions/${r.session.id}` }, t('me.continuePay'))) : null,
        r.status === 'CONFIRMED' ? cancelForm(r, item) : null);
      return item;
    })) : h('p', null, t('me.noReservations')));

  // --- notifications ------------------------------------------------------------------------
  const notes = data.myNotifications.edges.map((e) => e.node);
  const noteList = h('ul', { class: 'notifications', 'data-testid': 'notifications' });
  const unreadLine = h('p', { class: 'unread', 'data-testid': 'unread-line' });
  let unreadIds = new Set(notes.filter((n) => !n.readAt).map((n) => n.id));
  const markButton = h('button', { type: 'button', class: 'button secondary small', 'data-testid': 'mark-read', onclick: async () => {
    const ids = [...unreadIds];
    if (!ids.length) return;
    markButton.disabled = true;
    try {
      const n = await gql('mutation Read($ids: [ID!]!) { markNotificationsRead(ids: $ids) }', { ids });
      markedRead(n.markNotificationsRead);
      unreadIds = new Set();
      for (const el of noteList.querySelectorAll('.unread-item')) el.classList.remove('unread-item');
      drawUnread();
      refreshUnread();
    } catch (err) {
      announce(errorText(err), { assertive: true });
    }
    markButton.disabled = false;
  } }, t('me.markRead'));
  function drawUnread() {
    unreadLine.textContent = t('me.unread', { n: unreadIds.size });
    markButton.hidden = unreadIds.size === 0;
  }
  function noteItem(n) {
    return h('li', { class: `notification${n.readAt ? '' : ' unread-item'}`, 'data-testid': 'notification', 'data-kind': n.kind },
      h('p', { class: 'note-title' }, n.readAt ? null : h('span', { class: 'dot', 'aria-hidden': 'true' }, '● '), n.title),
      h('p', { class: 'note-body' }, n.body),
      h('p', { class: 'note-time' }, h('time', { datetime: n.createdAt }, dateTime(n.createdAt))));
  }
  noteList.append(...notes.map(noteItem));
  drawUnread();
  cleanups.push(onNotification((n) => {
    noteList.prepend(noteItem(n));
    if (!n.readAt) unreadIds.add(n.id);
    drawUnread();
  }));
  const noteSection = h('section', { 'aria-labelledby': 'notes-heading', id: 'notifications' },
    h('div', { class: 'section-head' }, h('h2', { id: 'notes-heading' }, t('me.notifications')), unreadLine, markButton),
    notes.length ? null : h('p', { class: 'empty-notes' }, t('me.noNotifications')),
    noteList);

  // --- coupons ------------------------------------------------------------------------------
  const mineIds = new Set(data.myCoupons.map((c) => c.coupon.id));
  const claimable = data.availableCoupons.filter((c) => !mineIds.has(c.id));
  const couponSection = h('section', { 'aria-labelledby': 'coupons-heading', id: 'coupons' },
    h('h2', { id: 'coupons-heading' }, t('me.coupons')),
    data.myCoupons.length ? h('ul', { class: 'coupons' }, data.myCoupons.map((c) => h('li', null, c.coupon.name, ' ', badge(c.status, 'muted')))) : null,
    claimable.length ? h('ul', { class: 'coupons' }, claimable.map((c) => {
      const button = h('button', { type: 'button', class: 'button secondary small', onclick: async () => {
        button.disabled = true;
        try {
          await gql('mutation Claim($c: ID!) { claimCoupon(couponId: $c) { id } }', { c: c.id });
          announce(t('me.claimed'));
          refresh();
        } catch (err) {
          button.disabled = false;
          announce(errorText(err), { assertive: true });
          button.after(h('span', { class: 'notice error inline-error', role: 'alert' }, errorText(err)));
        }
      } }, t('me.claim'));
      const off = c.discountAmount != null ? t('coupon.amountOff', { amount: price(c.discountAmount) }) : t('coupon.percentOff', { p: c.discountPercent });
      return h('li', null, `${c.name} — ${off} `, button);
    })) : h('p', null, t('me.noCoupons')));

  const user = data.me || currentUser();
  mount(outlet,
    h('h1', null, t('me.title')),
    h('p', { class: 'hello', 'data-testid': 'me-name' }, t('me.hello', { name: user?.name || '' }), user?.email ? h('span', { class: 'muted' }, ` · ${user.email}`) : null),
    h('div', { class: 'me-grid' },
      h('div', { class: 'me-main' }, ticketSection, reservationSection),
      h('div', { class: 'me-side' }, noteSection, couponSection)));

  const section = query.get('section');
  if (section) document.getElementById(section)?.scrollIntoView();
  return () => cleanups.forEach((fn) => fn());
}
