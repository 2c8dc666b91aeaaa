// Log-in state: the token pair in localStorage, refreshed before the access token runs
// out. Refresh tokens work once (a reused one ends the whole log-in), so refreshes are
// serialised within the tab and, where the browser has Web Locks, across tabs too.

import { request, setAuthProvider, ApiError, serverNow } from './api.js';

const KEY = 'curtain.auth';
// Refresh this long before expiry, so a request never leaves with a token about to lapse.
// Expiry is the server's time, so it is compared with serverNow(), not the device's clock.
const EARLY_MS = 60_000;
// The answers to `refreshToken` that mean the refresh token itself is refused: spent,
// revoked, expired or unknown (UNAUTHENTICATED), or its account gone dormant, which ends its
// sessions. Only these end the log-in. Anything else (no network, UNAVAILABLE, RATE_LIMITED,
// SERVER_BUSY load shedding, REQUEST_TIMEOUT, BODY_TIMEOUT, an HTTP 5xx or an internal error)
// says nothing about the token: keep it, and a later request tries again.
const REFUSED = new Set(['UNAUTHENTICATED', 'ACCOUNT_DORMANT']);

const listeners = new Set();

function read() {
  try {
    return JSON.parse(localStorage.getItem(KEY)) || null;
  } catch {
    return null;
  }
}

function write(auth) {
  if (auth) localStorage.setItem(KEY, JSON.stringify(auth));
  else localStorage.removeItem(KEY);
  notify();
}

function notify() {
  for (const fn of listeners) fn(currentUser());
}

// Another tab logging in, out or refreshing changes what this one should send.
window.addEventListener('storage', (event) => {
  if (event.key === KEY) notify();
});

const AUTH_FIELDS = 'accessToken accessTokenExpiresAt refreshToken user { id name email role }';

function save(payload) {
  write({
    accessToken: payload.accessToken,
    expiresAt: Date.parse(payload.accessTokenExpiresAt), // the server's clock
    refreshToken: payload.refreshToken,
    user: payload.user,
  });
  return payload.user;
}

export function currentUser() {
  return read()?.user ?? null;
}

export function isLoggedIn() {
  return !!read();
}

export function onAuthChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

let refreshing = null;

/**
 * Trades the refresh token for a new pair. Resolves true when there is a valid pair.
 * `staleToken` is an access token the server refused: it is replaced even if it does not
 * look expired here (unless another request or tab has replaced it already). Without one,
 * the pair is refreshed only when it is about to expire.
 */
export function refresh(staleToken) {
  if (!refreshing) {
    const run = async () => {
      const before = read();
      if (!before) return false;
      // Another request (or tab) may have refreshed while this one waited.
      const fresh = before.expiresAt - serverNow() > EARLY_MS;
      if (staleToken && before.accessToken !== staleToken && fresh) return true;
      if (!staleToken && fresh) return true;
      try {
        const data = await request(`mutation Refresh($t: String!) { refreshToken(refreshToken: $t) { ${AUTH_FIELDS} } }`,
          { t: before.refreshToken });
        save(data.refreshToken);
        return true;
      } catch (err) {
        // A refused refresh token means the log-in is over; a busy or unreachable server does not.
        if (err instanceof ApiError && REFUSED.has(err.code)) write(null);
        return false;
      }
    };
    const locked = navigator.locks ? navigator.locks.request('curtain-refresh', run) : run();
    refreshing = locked.finally(() => { refreshing = null; });
  }
  return refreshing;
}

/** The access token to send now, refreshed first when it is about to expire. */
export async function accessToken() {
  const auth = read();
  if (!auth) return null;
  if (auth.expiresAt - serverNow() < EARLY_MS) {
    await refresh();
    return read()?.accessToken ?? null;
  }
  return auth.accessToken;
}

export async function logIn(email, password) {
  const data = await request(`mutation LogIn($e: String!, $p: String!) { logIn(email: $e, password: $p) { ${AUTH_FIELDS} } }`,
    { e: email, p: password });
  return save(data.logIn);
}

export async function signUp(input) {
  const data = await request(`mutation SignUp($i: SignUpInput!) { signUp(input: $i) { ${AUTH_FIELDS} } }`, { i: input });
  return save(data.signUp);
}

export async function logOut() {
  const auth = read();
  write(null);
  if (auth) {
    // Ends the session on the server too; the local tokens are gone whatever it answers.
    await request('mutation LogOut($t: String!) { logOut(refreshToken: $t) }', { t: auth.refreshToken }).catch(() => {});
  }
}

/** Keeps the stored name in step when the server knows better (e.g. after `me`). */
export function updateUser(user) {
  const auth = read();
  if (auth && user) write({ ...auth, user: { ...auth.user, ...user } });
}

setAuthProvider({ accessToken, refresh });
