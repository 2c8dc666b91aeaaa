// The GraphQL client over fetch. Errors come back as ApiError carrying the server's
// `message` (written for buyers, so it is shown as it is) and `extensions.code`, which
// the views use to decide what to do.

export class ApiError extends Error {
  constructor(message, code, extensions = {}, data = null) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.extensions = extensions;
    this.data = data;
  }
}

// auth.js registers itself here; api.js stays free of any token logic of its own, and
// the two modules do not import each other.
let authProvider = {
  accessToken: async () => null,
  refresh: async () => false,
};

export function setAuthProvider(provider) {
  authProvider = provider;
}

// --- The server's clock ------------------------------------------------------------------
// Hold deadlines and token expiry are the server's times; a device clock minutes off would
// end a hold early (or late) and refresh tokens at the wrong moment. Every answer's `Date`
// header says what time the server had, which bounds the offset between the two clocks:
// the server stamped the answer between sending the request and receiving the answer
// (device time), at a moment within two seconds after the header's time (whole seconds, and
// a server may reuse its header for up to a second). Each answer narrows the bounds; an
// answer outside them means the device clock was changed, and the estimate starts over.
const OFFSET_KEY = 'curtain.clockOffset';
let offsetBounds = null; // [low, high] ms, server time minus device time
// Until the first answer arrives, the last estimate this browser made: a reload should not
// start with the device's clock when it is known to be off.
let clockOffset = (() => {
  try {
    return Number(localStorage.getItem(OFFSET_KEY)) || 0;
  } catch {
    return 0;
  }
})();

function noteServerDate(response, sentAt, receivedAt) {
  const date = Date.parse(response.headers.get('Date') || '');
  if (Number.isNaN(date)) return;
  const low = date - receivedAt;
  const high = date + 2000 - sentAt;
  offsetBounds = offsetBounds && low <= offsetBounds[1] && high >= offsetBounds[0]
    ? [Math.max(low, offsetBounds[0]), Math.min(high, offsetBounds[1])]
    : [low, high];
  const next = Math.round((offsetBounds[0] + offsetBounds[1]) / 2);
  if (next === clockOffset) return;
  clockOffset = next;
  try {
    localStorage.setItem(OFFSET_KEY, String(clockOffset));
  } catch {
    // Private mode or a full store: the estimate still holds for this page.
  }
}

/** The server's current time in ms since the epoch, as best this page knows it. */
export function serverNow() {
  return Date.now() + clockOffset;
}

/** One POST to /graphql with an explicit token (or none); no refresh, no retry. */
export async function request(query, variables = {}, { token = null, signal } = {}) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  const sentAt = Date.now();
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      headers,
      body: JSON.stringify({ query, variables }),
      signal,
      credentials: 'same-origin',
    });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new ApiError('', 'NETWORK');
  }
  noteServerDate(response, sentAt, Date.now());
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError('', 'NETWORK', { status: response.status });
  }
  // Requests refused before GraphQL ran (busy, timeouts) use the same JSON shape.
  if (body.errors && body.errors.length) {
    const first = body.errors[0];
    const ext = first.extensions || {};
    throw new ApiError(first.message || '', ext.code || 'INTERNAL_SERVER_ERROR', ext, body.data ?? null);
  }
  if (!response.ok) throw new ApiError('', 'NETWORK', { status: response.status });
  return body.data;
}

/**
 * Sends a document as the logged-in buyer (when there is one). An access token refused as
 * UNAUTHENTICATED is refreshed once and the request sent again; if the refresh fails the
 * request goes once more without a token, so anonymous reads still work and buyer-only
 * ones say plainly that a log-in is needed. (Only a refused refresh token logs the buyer
 * out; after a busy or unreachable server the next request tries the refresh again.)
 */
export async function gql(query, variables = {}, { signal } = {}) {
  const token = await authProvider.accessToken();
  try {
    return await request(query, variables, { token, signal });
  } catch (err) {
    if (!(err instanceof ApiError) || err.code !== 'UNAUTHENTICATED' || !token) throw err;
    const refreshed = await authProvider.refresh(token).catch(() => false);
    const next = refreshed ? await authProvider.accessToken() : null;
    return request(query, variables, { token: next, signal });
  }
}

/** A fresh idempotency key; crypto.randomUUID needs a secure context (or localhost). */
export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
