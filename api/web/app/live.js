// A small graphql-transport-ws client over the browser's WebSocket: one socket for the
// whole app, shared by the seat map and notifications. Subscriptions survive reconnects:
// each asks for its variables again when it is re-sent, which is how the seat map resumes
// from the last version it saw (`afterVersion`) instead of starting over.

import { accessToken, refresh, onAuthChange, currentUser } from './auth.js';

const PROTOCOL = 'graphql-transport-ws';
// Close the socket this long after the last subscription ends, so that a quick route
// change (seat map → seat map) does not pay for a new handshake.
const LINGER_MS = 5_000;

const subscriptions = new Map(); // local key -> { query, variables(), sink, opId }
const statusListeners = new Set();

let socket = null;
let acked = false;
let attempt = 0;
let reconnectTimer = null;
let lingerTimer = null;
let nextKey = 1;
let nextOpId = 1;
let status = 'idle'; // idle | connecting | live | retrying
let opening = false; // between deciding to connect and having a socket object
let identity = null; // the user id the socket introduced itself as
// The access token of the last socket the server closed with 4403 (token expired, log-in
// ended), to be traded for a new one before the next connection; and how many 4403 closes
// came in a row without a connection_ack between them.
let refusedToken = null;
let refusals = 0;

function setStatus(next) {
  if (status === next) return;
  status = next;
  for (const fn of statusListeners) fn(status);
}

export function liveStatus() {
  return status;
}

export function onLiveStatus(fn) {
  statusListeners.add(fn);
  return () => statusListeners.delete(fn);
}

function url() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/graphql`;
}

function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function start(key, sub) {
  // A fresh operation id per (re)start: the server refuses a reused id with 4409.
  sub.opId = String(nextOpId++);
  send({ id: sub.opId, type: 'subscribe', payload: { query: sub.query, variables: sub.variables() } });
}

async function connect() {
  if (socket || opening || subscriptions.size === 0) return;
  clearTimeout(reconnectTimer);
  reconnectTimer = null;
  setStatus(attempt ? 'retrying' : 'connecting');
  opening = true;
  let token = null;
  try {
    if (refusedToken) {
      // The server refused this token, though it may not look expired here (a log-in
      // ended elsewhere, a skewed clock): force a real refresh. A refused refresh token
      // logs the buyer out (auth.js) and the socket then goes anonymously; a refresh that
      // merely failed leaves the old token, and the backoff below spaces the retries.
      const stale = refusedToken;
      refusedToken = null;
      await refresh(stale);
    }
    token = await accessToken();
  } catch {
    token = null;
  } finally {
    opening = false;
  }
  if (socket || subscriptions.size === 0) return;
  identity = token ? currentUser()?.id ?? null : null;
  const ws = new WebSocket(url(), PROTOCOL);
  socket = ws;
  acked = false;
  ws.addEventListener('open', () => {
    // The server gives us 3 s to introduce ourselves.
    ws.send(JSON.stringify({ type: 'connection_init', payload: token ? { Authorization: `Bearer ${token}` } : {} }));
  });
  ws.addEventListener('message', (event) => {
    if (ws !== socket) return;
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    onMessage(message);
  });
  ws.addEventListener('close', (event) => {
    if (ws !== socket) return;
    socket = null;
    acked = false;
    onClose(event.code, token);
  });
}

function findByOp(id) {
  for (const sub of subscriptions.values()) if (sub.opId === id) return sub;
  return null;
}

function onMessage(message) {
  switch (message.type) {
    case 'connection_ack':
      acked = true;
      attempt = 0;
      refusals = 0;
      setStatus('live');
      for (const [key, sub] of subscriptions) {
        sub.sink.reconnected?.();
        start(key, sub);
      }
      break;
    case 'ping':
      send({ type: 'pong' });
      break;
    case 'next': {
      const sub = findByOp(message.id);
      if (sub) sub.sink.next(message.payload);
      break;
    }
    case 'error': {
      const sub = findByOp(message.id);
      if (sub) {
        for (const [key, value] of subscriptions) if (value === sub) subscriptions.delete(key);
        sub.sink.error?.(message.payload);
      }
      break;
    }
    case 'complete': {
      const sub = findByOp(message.id);
      if (sub) {
        for (const [key, value] of subscriptions) if (value === sub) subscriptions.delete(key);
        sub.sink.complete?.();
      }
      break;
    }
    default:
      break;
  }
}

/** `token` is the access token the closed socket introduced itself with (or null). */
function onClose(code, token) {
  if (subscriptions.size === 0) {
    setStatus('idle');
    return;
  }
  for (const sub of subscriptions.values()) sub.sink.disconnected?.();
  attempt += 1;
  setStatus('retrying');
  if (code === 4403 && token) {
    // The token expired or the log-in ended: connect() refreshes it (or logs out) first.
    refusedToken = token;
    refusals += 1;
    // The first time, come straight back. Refused again before any acknowledgement means
    // the refresh did not help (it failed, or the server refuses the new token too): back
    // off like any other failure rather than loop on 4403.
    if (refusals === 1) {
      connect();
      return;
    }
  }
  // Exponential backoff with jitter, so a restarting server is not stampeded.
  const delay = Math.min(15_000, 500 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random() / 2);
  reconnectTimer = setTimeout(connect, delay);
}

function maybeLinger() {
  clearTimeout(lingerTimer);
  if (subscriptions.size > 0) return;
  lingerTimer = setTimeout(() => {
    if (subscriptions.size === 0 && socket) {
      const ws = socket;
      socket = null;
      ws.close(1000);
      setStatus('idle');
    }
    clearTimeout(reconnectTimer);
  }, LINGER_MS);
}

/**
 * Starts a subscription. `variables` is a function, asked each time the operation is
 * (re)sent. The sink gets next(payload), error(errors), complete(), and the optional
 * disconnected() / reconnected() around a reconnect. Returns a function that ends it.
 */
export function subscribe({ query, variables = () => ({}), ...sink }) {
  const key = nextKey++;
  const sub = { query, variables, sink, opId: null };
  subscriptions.set(key, sub);
  clearTimeout(lingerTimer);
  if (socket && acked) start(key, sub);
  else connect();
  return () => {
    if (!subscriptions.has(key)) return;
    subscriptions.delete(key);
    if (sub.opId && acked) send({ id: sub.opId, type: 'complete' });
    maybeLinger();
  };
}

// A new log-in (or log-out) means a socket introduced with another identity: start over.
// A mere token refresh keeps the identity; the server closes with 4403 when the old
// token expires, and the reconnect then brings the new one.
onAuthChange((user) => {
  if (!socket || (user?.id ?? null) === identity) return;
  const ws = socket;
  socket = null;
  acked = false;
  ws.close(1000);
  attempt = 0;
  // The new identity's token has not been refused by anyone.
  refusedToken = null;
  refusals = 0;
  if (subscriptions.size) {
    for (const sub of subscriptions.values()) sub.sink.disconnected?.();
    connect();
  } else {
    setStatus('idle');
  }
});
