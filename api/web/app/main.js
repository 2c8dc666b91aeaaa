// Boots the buyer app: header and footer, routes, log-in state, live notifications.

import { h, mount } from './dom.js';
import { t, getLang, setLang, onLangChange } from './i18n.js';
import { gql } from './api.js';
import { currentUser, isLoggedIn, logOut, onAuthChange, updateUser } from './auth.js';
import { announce } from './announce.js';
import { route, notFound, start, refresh, currentLocation, navigate } from './router.js';
import { startNotifications, onUnread, unreadCount } from './notifications.js';
import { paymentProvider } from './payment.js';
import { homeView } from './views/home.js';
import { searchView } from './views/search.js';
import { performanceView } from './views/performance.js';
import { sessionView } from './views/session.js';
import { loginView } from './views/login.js';
import { meView } from './views/me.js';
import { paySuccessView, payFailView, notFoundView } from './views/pay.js';

route(/^\/$/, homeView);
route(/^\/search$/, searchView);
route(/^\/performances\/([^/]+)$/, performanceView);
route(/^\/sessions\/([^/]+)$/, sessionView);
route(/^\/login$/, loginView);
route(/^\/me$/, meView);
route(/^\/pay\/success$/, paySuccessView);
route(/^\/pay\/fail$/, payFailView);
notFound(notFoundView);

const nav = document.getElementById('site-nav');
const footer = document.getElementById('site-footer');
const main = document.getElementById('main');

function drawNav() {
  const user = currentUser();
  const { path } = currentLocation();
  const current = (p) => (path === p || (p !== '/' && path.startsWith(p)) ? 'page' : undefined);
  const count = unreadCount();
  nav.setAttribute('aria-label', t('nav.label'));
  mount(nav,
    h('a', { href: '#/', 'aria-current': current('/'), 'data-testid': 'nav-home' }, t('nav.home')),
    user ? h('a', { href: '#/me', 'aria-current': current('/me'), 'data-testid': 'nav-me' }, t('nav.me'),
      count ? h('span', { class: 'unread-badge', 'data-testid': 'unread-count' },
        h('span', { 'aria-hidden': 'true' }, String(count)),
        h('span', { class: 'visually-hidden' }, ` (${t('nav.notifications', { n: count })})`)) : null) : null,
    user ? h('span', { class: 'account-name', 'data-testid': 'account-name' }, user.name) : null,
    user
      ? h('button', { type: 'button', class: 'link-button', 'data-testid': 'logout', onclick: async () => {
        await logOut();
        announce(t('login.loggedOut'));
        navigate('/');
      } }, t('nav.logout'))
      : h('a', { href: '#/login', 'aria-current': current('/login'), 'data-testid': 'nav-login' }, t('nav.login')),
    h('button', {
      type: 'button', class: 'lang-toggle', 'data-testid': 'lang-toggle',
      lang: getLang() === 'ko' ? 'en' : 'ko', 'aria-label': t('nav.langLabel'),
      onclick: () => setLang(getLang() === 'ko' ? 'en' : 'ko'),
    }, t('nav.lang')));
}

async function drawFooter() {
  mount(footer, h('p', null, t('footer.text')));
  try {
    const provider = await paymentProvider();
    if (provider.simulated) footer.append(h('p', { class: 'muted', 'data-testid': 'simulated-note' }, t('footer.simulated')));
  } catch {
    // The footer note is informational only.
  }
}

// The skip link targets #main, which the hash router would read as a route.
document.querySelector('[data-skip]')?.addEventListener('click', (event) => {
  event.preventDefault();
  main.focus();
});

function drawSkip() {
  const skip = document.querySelector('[data-skip]');
  if (skip) skip.textContent = t('skip');
}

onLangChange((lang) => {
  // Emails and notifications follow the account's language; keep it with the page's.
  if (isLoggedIn()) gql('mutation Lang($l: Language!) { updateMe(input: { language: $l }) { id } }', { l: lang.toUpperCase() }).catch(() => {});
  drawSkip();
  drawNav();
  drawFooter();
  refresh();
});
let lastUser = currentUser()?.id ?? null;
onAuthChange((user) => {
  drawNav();
  // Log-in and log-out change what pages show; a token refresh does not.
  const id = user?.id ?? null;
  if (id !== lastUser) {
    lastUser = id;
    const { path } = currentLocation();
    if (path !== '/login') refresh();
  }
});
onUnread(drawNav);
window.addEventListener('hashchange', drawNav);

drawSkip();
drawNav();
drawFooter();
start(main);
startNotifications();

// A stored log-in may have ended elsewhere; `me` finds out (and refreshes the token).
if (isLoggedIn()) {
  gql('query Me { me { id name email role } }').then((data) => {
    if (data.me && data.me.name !== currentUser()?.name) updateUser(data.me);
  }).catch(() => {});
}
