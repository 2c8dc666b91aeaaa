// The buyer's notifications: the unread count in the header, kept live by the
// `notificationReceived` subscription while logged in. Pushes are best effort, so the
// count is read again after every reconnect.

import { gql } from './api.js';
import { subscribe } from './live.js';
import { isLoggedIn, onAuthChange, currentUser } from './auth.js';
import { announce } from './announce.js';
import { t } from './i18n.js';

const countListeners = new Set();
const itemListeners = new Set();
let unread = 0;
let stop = null;
let owner = null;

function setUnread(n) {
  unread = Math.max(0, n);
  for (const fn of countListeners) fn(unread);
}

export function unreadCount() {
  return unread;
}

export function onUnread(fn) {
  countListeners.add(fn);
  return () => countListeners.delete(fn);
}

/** Called with each notification pushed while the page is open. */
export function onNotification(fn) {
  itemListeners.add(fn);
  return () => itemListeners.delete(fn);
}

export async function refreshUnread() {
  if (!isLoggedIn()) return setUnread(0);
  try {
    const data = await gql('query Unread { unreadNotificationCount }');
    setUnread(data.unreadNotificationCount);
  } catch {
    // The badge is a hint; a failed read leaves the last count.
  }
  return undefined;
}

/** A page that read the count itself (my page) hands it over, fresher than the badge's. */
export function setUnreadCount(n) {
  setUnread(n);
}

export function markedRead(n) {
  setUnread(unread - n);
}

function start() {
  const id = currentUser()?.id ?? null;
  if (id === owner) return;
  stop?.();
  stop = null;
  owner = id;
  if (!id) {
    setUnread(0);
    return;
  }
  refreshUnread();
  stop = subscribe({
    query: 'subscription Notifications { notificationReceived { id kind title body data readAt createdAt } }',
    next: (payload) => {
      const item = payload.data?.notificationReceived;
      if (!item) return;
      if (!item.readAt) setUnread(unread + 1);
      announce(t('me.newNotification', { title: item.title }));
      for (const fn of itemListeners) fn(item);
    },
    reconnected: () => refreshUnread(),
    error: () => {
      // Without the push the count is still right whenever a page reads it.
      owner = null;
      stop = null;
    },
  });
}

export function startNotifications() {
  start();
  onAuthChange(start);
}
