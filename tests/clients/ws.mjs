// GraphQL over WebSocket at /graphql, as clients see it:
//
// - the graphql-transport-ws close codes, each when the protocol says: with the graphql-ws
//   reference client where a client can cause the condition (4403, 4408, 4409), and with raw
//   sockets where only a misbehaving client can (4400, 4401, 4406, 4408, 4429);
// - a subscription through the graphql-ws client (seatMapUpdates: a snapshot, then a delta
//   for a hold made over HTTP and one for its release), and a logged-in socket;
// - the legacy subscriptions-transport-ws protocol (subprotocol `graphql-ws`), with that
//   package's own client (what older Apollo clients use) and with raw messages.
//
//   node tests/clients/ws.mjs http://127.0.0.1:PORT [--init-timeout-ms N]
//
// The 4408 cases wait for the server's connection_init timeout. Start the server with a short
// one, CURTAIN_GRAPHQL_WS_INIT_TIMEOUT_MS=1000, and tell this script the same with
// --init-timeout-ms 1000, or CURTAIN_WS_INIT_TIMEOUT_MS=1000 (or the server's variable) in
// its environment (default: the server's default, 3000).

import { randomBytes } from 'node:crypto';
import http from 'node:http';

import { createClient } from 'graphql-ws';
import { SubscriptionClient } from 'subscriptions-transport-ws';
import WebSocket from 'ws';

import { check, data, demoSession, signUp, sleep, within } from './lib.mjs';

const TRANSPORT_WS = 'graphql-transport-ws';
const LEGACY_WS = 'graphql-ws';
/** How long any one expected message or close may take. */
const WAIT_MS = 5_000;

const SEAT_MAP = `subscription($s: ID!, $after: Int) {
  seatMapUpdates(sessionId: $s, afterVersion: $after) {
    __typename
    ... on SeatMapSnapshot { version availableCount seats { id status } }
    ... on SeatMapDelta { version fromVersion availableCount changes { seatId status } }
  }
}`;

// ---- Raw sockets ----------------------------------------------------------------------

/**
 * A WebSocket that records what it receives: `next(type)` waits for a message of that type,
 * `closed` resolves with { code, reason, afterMs } (afterMs counted from the open).
 */
function rawSocket(wsUrl, protocols = [TRANSPORT_WS]) {
  const ws = new WebSocket(wsUrl, protocols);
  const inbox = [];
  const waiters = [];
  let openedAt = Date.now();
  const opened = new Promise((resolve, reject) => {
    ws.once('open', () => {
      openedAt = Date.now();
      resolve();
    });
    ws.once('error', reject);
  });
  const closed = new Promise((resolve) => {
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString(), afterMs: Date.now() - openedAt }));
  });
  ws.on('error', () => {});
  ws.on('message', (raw) => {
    let message;
    try {
      message = JSON.parse(raw.toString());
    } catch {
      message = { type: '(not JSON)', raw: raw.toString() };
    }
    inbox.push(message);
    for (const waiter of [...waiters]) waiter();
  });
  const socket = {
    ws,
    inbox,
    opened: within(WAIT_MS, opened, `opening ${wsUrl}`),
    closed,
    send(message) {
      ws.send(typeof message === 'string' ? message : JSON.stringify(message));
    },
    /** The first message of `type` not yet taken, waiting up to `ms` for it. */
    next(type, ms = WAIT_MS) {
      const take = () => {
        const index = inbox.findIndex((m) => m.type === type);
        return index >= 0 ? inbox.splice(index, 1)[0] : undefined;
      };
      const found = take();
      if (found) return Promise.resolve(found);
      return within(
        ms,
        new Promise((resolve, reject) => {
          const waiter = () => {
            const message = take();
            if (message) {
              waiters.splice(waiters.indexOf(waiter), 1);
              resolve(message);
            }
          };
          waiters.push(waiter);
          closed.then((c) => reject(new Error(`the socket closed (${c.code} ${c.reason}) before a ${type} message`)));
        }),
        `a ${type} message`,
      );
    },
    /** The close, waiting up to `ms`. */
    close(ms = WAIT_MS) {
      return within(ms, closed, 'the server to close the socket');
    },
    end() {
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.terminate();
    },
  };
  return socket;
}

/** A raw graphql-transport-ws socket that has been acknowledged. */
async function acknowledged(wsUrl, payload) {
  const socket = rawSocket(wsUrl);
  await socket.opened;
  socket.send(payload === undefined ? { type: 'connection_init' } : { type: 'connection_init', payload });
  await socket.next('connection_ack');
  return socket;
}

/**
 * An upgrade offering `protocol` (or none), read by hand: `ws` itself refuses a handshake
 * whose answer names no subprotocol when one was offered, before any close could be read.
 * Resolves with { status, protocol, code, reason }: the HTTP status, the subprotocol the
 * server chose, and the close frame it sent (if it upgraded).
 */
function upgradeByHand(base, protocol) {
  const url = new URL(`${base}/graphql`);
  const headers = {
    Connection: 'Upgrade',
    Upgrade: 'websocket',
    'Sec-WebSocket-Version': '13',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
  };
  if (protocol) headers['Sec-WebSocket-Protocol'] = protocol;
  return within(
    WAIT_MS,
    new Promise((resolve, reject) => {
      const request = http.request({ host: url.hostname, port: url.port, path: url.pathname, headers });
      request.on('error', reject);
      request.on('response', (response) => {
        response.resume();
        resolve({ status: response.statusCode, protocol: null, code: null, reason: null });
      });
      request.on('upgrade', (response, socket, head) => {
        let buffer = head;
        const chosen = response.headers['sec-websocket-protocol'] || null;
        const parse = () => {
          // Server frames are not masked: FIN/opcode, length (7 bits, or 16 after 126), data.
          if (buffer.length < 2) return;
          const opcode = buffer[0] & 0x0f;
          let length = buffer[1] & 0x7f;
          let offset = 2;
          if (length === 126) {
            if (buffer.length < 4) return;
            length = buffer.readUInt16BE(2);
            offset = 4;
          }
          if (buffer.length < offset + length) return;
          const payload = buffer.subarray(offset, offset + length);
          socket.destroy();
          if (opcode !== 8) {
            resolve({ status: response.statusCode, protocol: chosen, code: null, reason: `a frame of opcode ${opcode} came first` });
          } else {
            resolve({
              status: response.statusCode,
              protocol: chosen,
              code: payload.length >= 2 ? payload.readUInt16BE(0) : 1005,
              reason: payload.subarray(2).toString(),
            });
          }
        };
        socket.on('data', (chunk) => {
          buffer = Buffer.concat([buffer, chunk]);
          parse();
        });
        socket.on('error', () => {});
        socket.on('close', () => resolve({ status: response.statusCode, protocol: chosen, code: null, reason: 'closed with no close frame' }));
        parse();
      });
      request.end();
    }),
    `an upgrade offering ${protocol || 'no subprotocol'}`,
  );
}

// ---- The graphql-ws client ------------------------------------------------------------

/** A graphql-ws client that records its `closed` events; never retries. */
function referenceClient(wsUrl, { extraWaitMs = 0, ...options } = {}) {
  let resolveClosed;
  const closed = new Promise((resolve) => {
    resolveClosed = resolve;
  });
  const client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: true,
    onNonLazyError: () => {},
    ...options,
    on: {
      closed: (event) => resolveClosed({ code: event?.code, reason: event?.reason?.toString?.() ?? '' }),
    },
  });
  return {
    client,
    closed: () => within(WAIT_MS + extraWaitMs, closed, 'the graphql-ws client to see the socket close'),
  };
}

/** Subscribes with the reference client; `events()` is what arrived, `ended` how it ended. */
function subscribeWith(client, payload) {
  const events = [];
  const waiters = [];
  let settle;
  const ended = new Promise((resolve) => {
    settle = resolve;
  });
  const dispose = client.subscribe(payload, {
    next: (value) => {
      events.push(value);
      for (const waiter of [...waiters]) waiter();
    },
    error: (error) => settle({ error }),
    complete: () => settle({ complete: true }),
  });
  return {
    events,
    ended,
    dispose,
    /** The first event matching `test`, waiting up to WAIT_MS for it. */
    waitFor(test, what) {
      const find = () => events.find(test);
      if (find()) return Promise.resolve(find());
      return within(
        WAIT_MS,
        new Promise((resolve, reject) => {
          const waiter = () => {
            const found = find();
            if (found) {
              waiters.splice(waiters.indexOf(waiter), 1);
              resolve(found);
            }
          };
          waiters.push(waiter);
          ended.then((end) => reject(new Error(`the subscription ended (${describe(end)}) before ${what}`)));
        }),
        what,
      );
    },
  };
}

function describe(end) {
  if (end?.complete) return 'complete';
  const error = end?.error;
  if (error && typeof error.code === 'number') return `closed ${error.code} ${error.reason || ''}`.trim();
  if (Array.isArray(error)) return JSON.stringify(error);
  return String(error?.message || error);
}

// ---- The checks -----------------------------------------------------------------------

check(
  'ws',
  async ({ base, args, log, fail, figures }) => {
    const wsUrl = `${base.replace(/^http/, 'ws')}/graphql`;
    const initTimeoutMs = Number(
      args['init-timeout-ms'] ||
        process.env.CURTAIN_WS_INIT_TIMEOUT_MS ||
        process.env.CURTAIN_GRAPHQL_WS_INIT_TIMEOUT_MS ||
        3000,
    );
    const demo = await demoSession(base, { seats: 1 });
    const buyer = await signUp(base);
    const results = [];

    /** Runs one named case; a failure is recorded, not thrown, so every case runs. */
    async function run(name, fn) {
      const started = Date.now();
      try {
        const detail = await fn();
        results.push({ name, ok: true, detail, ms: Date.now() - started });
        log(`pass  ${name}${detail ? `: ${detail}` : ''}`);
      } catch (err) {
        results.push({ name, ok: false, detail: err.message, ms: Date.now() - started });
        log(`FAIL  ${name}: ${err.message}`);
      }
    }

    /** A raw socket's close must carry `code` (and `reason`, when the spec fixes it). */
    function expectClose(closeEvent, code, reason) {
      if (closeEvent.code !== code) {
        throw new Error(`closed with ${closeEvent.code} "${closeEvent.reason}", expected ${code}${reason ? ` "${reason}"` : ''}`);
      }
      if (reason && closeEvent.reason !== reason) {
        throw new Error(`closed with ${code} but the reason "${closeEvent.reason}", expected "${reason}"`);
      }
      return `${closeEvent.code} "${closeEvent.reason}"`;
    }

    async function rawCase(steps, code, reason) {
      const socket = rawSocket(wsUrl);
      try {
        await socket.opened;
        await steps(socket);
        let close;
        try {
          close = await socket.close();
        } catch (err) {
          const got = socket.inbox.map((m) => JSON.stringify(m).slice(0, 200)).join(', ');
          throw new Error(`${err.message}; it sent ${got || 'nothing'} and kept the socket open`);
        }
        return expectClose(close, code, reason);
      } finally {
        socket.end();
      }
    }

    // The cases that wait for the init timeout run alongside the others.
    const slow = [
      run('4408 raw: no connection_init within the timeout', async () => {
        const socket = rawSocket(wsUrl);
        try {
          await socket.opened;
          const close = await socket.close(initTimeoutMs + WAIT_MS);
          const detail = expectClose(close, 4408, 'Connection initialisation timeout');
          if (close.afterMs < initTimeoutMs * 0.8) {
            throw new Error(`closed after ${close.afterMs} ms, before the ${initTimeoutMs} ms timeout`);
          }
          return `${detail} after ${close.afterMs} ms`;
        } finally {
          socket.end();
        }
      }),
      run('4408 graphql-ws client: connectionParams slower than the timeout', async () => {
        const { client, closed } = referenceClient(wsUrl, {
          lazy: false,
          extraWaitMs: initTimeoutMs,
          connectionParams: () => sleep(initTimeoutMs + 2_000).then(() => ({})),
        });
        try {
          const close = await closed();
          return expectClose(close, 4408, 'Connection initialisation timeout');
        } finally {
          await client.dispose();
        }
      }),
    ];

    await run('subscription: seatMapUpdates through graphql-ws (snapshot, hold delta, release delta)', async () => {
      const { client } = referenceClient(wsUrl);
      const seat = demo.seatIds[0];
      try {
        const sub = subscribeWith(client, { query: SEAT_MAP, variables: { s: demo.sessionId } });
        const first = await sub.waitFor(() => true, 'the first event');
        const snapshot = first.data?.seatMapUpdates;
        if (snapshot?.__typename !== 'SeatMapSnapshot') {
          throw new Error(`the first event is ${JSON.stringify(first).slice(0, 200)}, not a SeatMapSnapshot`);
        }
        const held = await data(
          base,
          `mutation($s: ID!, $seats: [ID!]!, $key: String!) { holdSeats(sessionId: $s, seatIds: $seats, idempotencyKey: $key) { id } }`,
          { token: buyer.token, variables: { s: demo.sessionId, seats: [seat], key: `ws-${Date.now()}` } },
        );
        const isChange = (status) => (event) =>
          event.data?.seatMapUpdates?.__typename === 'SeatMapDelta' &&
          event.data.seatMapUpdates.changes.some((c) => c.seatId === seat && c.status === status);
        const heldDelta = await sub.waitFor(isChange('HELD'), `a SeatMapDelta with seat ${seat} HELD`);
        await data(base, `mutation($r: ID!) { releaseHold(reservationId: $r) { id } }`, {
          token: buyer.token,
          variables: { r: held.holdSeats.id },
        });
        const releasedDelta = await sub.waitFor(isChange('AVAILABLE'), `a SeatMapDelta with seat ${seat} AVAILABLE`);
        sub.dispose();
        const v = [snapshot.version, heldDelta.data.seatMapUpdates.version, releasedDelta.data.seatMapUpdates.version];
        return `snapshot v${v[0]} (${snapshot.seats.length} seats), HELD delta v${v[1]}, AVAILABLE delta v${v[2]}`;
      } finally {
        await client.dispose();
      }
    });

    await run('logged in: connection_init {"Authorization": "Bearer <token>"} acts for the account', async () => {
      const { client } = referenceClient(wsUrl, { connectionParams: { Authorization: `Bearer ${buyer.token}` } });
      try {
        const sub = subscribeWith(client, { query: '{ me { email } }' });
        const event = await sub.waitFor(() => true, 'the answer to { me { email } }');
        if (event.data?.me?.email !== buyer.email) {
          throw new Error(`{ me } answered ${JSON.stringify(event)}, expected ${buyer.email}`);
        }
        const end = await within(WAIT_MS, sub.ended, 'complete after the query');
        if (!end.complete) throw new Error(`the query ended with ${describe(end)}, not complete`);
        return `me.email = ${event.data.me.email}, then complete`;
      } finally {
        await client.dispose();
      }
    });

    await run('4403 graphql-ws client: connection_init with a refused token', async () => {
      const { client, closed } = referenceClient(wsUrl, { connectionParams: { Authorization: 'Bearer not.a.token' } });
      try {
        const sub = subscribeWith(client, { query: SEAT_MAP, variables: { s: demo.sessionId } });
        const close = await closed();
        const end = await within(WAIT_MS, sub.ended, 'the subscription to end');
        if (!end.error) throw new Error(`the subscription ended with ${describe(end)}`);
        if (close.code !== 4403) throw new Error(`closed with ${close.code} "${close.reason}", expected 4403`);
        return `${close.code} "${close.reason}"`;
      } finally {
        await client.dispose();
      }
    });

    await run('4409 graphql-ws client: two subscribes with the same id', async () => {
      const { client, closed } = referenceClient(wsUrl, { generateID: () => 'same-id' });
      try {
        const one = subscribeWith(client, { query: SEAT_MAP, variables: { s: demo.sessionId } });
        await one.waitFor(() => true, 'the first subscription to start');
        subscribeWith(client, { query: SEAT_MAP, variables: { s: demo.sessionId } });
        return expectClose(await closed(), 4409, 'Subscriber for same-id already exists');
      } finally {
        await client.dispose();
      }
    });

    await run('4400 raw: malformed JSON', () =>
      rawCase(async (s) => {
        s.send({ type: 'connection_init' });
        await s.next('connection_ack');
        s.send('{"type": "ping"');
      }, 4400),
    );
    await run('4400 raw: unknown message type', () =>
      rawCase(async (s) => {
        s.send({ type: 'connection_init' });
        await s.next('connection_ack');
        s.send({ type: 'bogus' });
      }, 4400),
    );
    await run('4400 raw: message without a type', () => rawCase(async (s) => s.send({ id: '1' }), 4400));
    await run('4400 raw: a server-only type (next) from the client', () =>
      rawCase(async (s) => {
        s.send({ type: 'connection_init' });
        await s.next('connection_ack');
        s.send({ type: 'next', id: '1', payload: { data: null } });
      }, 4400),
    );
    await run('4400 raw: subscribe without an id', () =>
      rawCase(async (s) => {
        s.send({ type: 'connection_init' });
        await s.next('connection_ack');
        s.send({ type: 'subscribe', payload: { query: '{ __typename }' } });
      }, 4400),
    );
    await run('4400 raw: subscribe whose payload has no query', () =>
      rawCase(async (s) => {
        s.send({ type: 'connection_init' });
        await s.next('connection_ack');
        s.send({ type: 'subscribe', id: '1', payload: { variables: {} } });
      }, 4400),
    );
    await run('4400 raw: connection_init whose payload is not an object', () =>
      rawCase(async (s) => s.send({ type: 'connection_init', payload: 'a string' }), 4400),
    );
    await run('4400 raw: ping whose payload is not an object', () =>
      rawCase(async (s) => {
        s.send({ type: 'connection_init' });
        await s.next('connection_ack');
        s.send({ type: 'ping', payload: [1, 2] });
      }, 4400),
    );
    await run('4400 raw: a binary message', () =>
      rawCase(async (s) => {
        s.send({ type: 'connection_init' });
        await s.next('connection_ack');
        s.ws.send(Buffer.from('{"type":"ping"}'), { binary: true });
      }, 4400),
    );
    await run('4401 raw: subscribe before connection_ack', () =>
      rawCase(async (s) => s.send({ type: 'subscribe', id: '1', payload: { query: '{ __typename }' } }), 4401, 'Unauthorized'),
    );
    await run('4429 raw: a second connection_init', () =>
      rawCase(async (s) => {
        s.send({ type: 'connection_init' });
        await s.next('connection_ack');
        s.send({ type: 'connection_init' });
      }, 4429, 'Too many initialisation requests'),
    );
    await run('4403 raw: connection_init {"Authorization": "Bearer <garbage>"}', () =>
      rawCase(async (s) => s.send({ type: 'connection_init', payload: { Authorization: 'Bearer garbage' } }), 4403),
    );
    await run('4406 raw: upgrade offering no subprotocol', async () => {
      const socket = rawSocket(wsUrl, []);
      try {
        await socket.opened;
        return expectClose(await socket.close(), 4406, 'Subprotocol not acceptable');
      } finally {
        socket.end();
      }
    });
    await run('4406 raw: upgrade offering only an unknown subprotocol', async () => {
      const answer = await upgradeByHand(base, 'graphql-unknown');
      if (answer.status !== 101) return `refused the upgrade with HTTP ${answer.status}`;
      if (answer.protocol) throw new Error(`the server chose the subprotocol ${answer.protocol}, which was not offered`);
      if (answer.code !== 4406) throw new Error(`upgraded, then closed with ${answer.code} "${answer.reason}", expected 4406`);
      return `101 with no subprotocol, then ${answer.code} "${answer.reason}"`;
    });
    await run('ping -> pong (payload echoed), complete of an unknown id ignored', async () => {
      const socket = await acknowledged(wsUrl);
      try {
        socket.send({ type: 'ping', payload: { n: 1 } });
        const pong = await socket.next('pong');
        socket.send({ type: 'complete', id: 'never-started' });
        socket.send({ type: 'ping' });
        await socket.next('pong');
        socket.send({ type: 'pong' });
        socket.send({ type: 'ping' });
        await socket.next('pong');
        return `pong ${JSON.stringify(pong.payload ?? null)}; still open after complete/pong`;
      } finally {
        socket.end();
      }
    });

    // The legacy protocol, by hand: init/ack(+ka), start/data, stop, start again, terminate.
    await run('legacy graphql-ws raw: connection_init, start, data, stop, connection_terminate', async () => {
      const socket = rawSocket(wsUrl, [LEGACY_WS]);
      try {
        await socket.opened;
        if (socket.ws.protocol !== LEGACY_WS) throw new Error(`the server chose "${socket.ws.protocol}"`);
        socket.send({ type: 'connection_init', payload: {} });
        await socket.next('connection_ack');
        const start = { type: 'start', id: '1', payload: { query: SEAT_MAP, variables: { s: demo.sessionId } } };
        socket.send(start);
        const first = await socket.next('data');
        if (first.id !== '1' || first.payload?.data?.seatMapUpdates?.__typename !== 'SeatMapSnapshot') {
          throw new Error(`the first data is ${JSON.stringify(first).slice(0, 200)}`);
        }
        socket.send({ type: 'stop', id: '1' });
        await sleep(200);
        // The id is free again once stopped.
        socket.send(start);
        const again = await socket.next('data');
        if (again.id !== '1') throw new Error(`data for ${again.id} after restarting 1`);
        socket.send({ type: 'stop', id: '1' });
        socket.send({ type: 'connection_terminate' });
        const close = await socket.close();
        const unexpected = socket.inbox.filter((m) => !['ka', 'data', 'complete'].includes(m.type));
        if (unexpected.length) throw new Error(`unexpected messages: ${JSON.stringify(unexpected).slice(0, 200)}`);
        return `ack, data (snapshot), stop, restart under the same id, terminate -> closed ${close.code}`;
      } finally {
        socket.end();
      }
    });

    // The legacy protocol with subscriptions-transport-ws, the client older Apollo clients use.
    await run('legacy graphql-ws: subscriptions-transport-ws client', async () => {
      const client = new SubscriptionClient(
        wsUrl,
        { reconnect: false, lazy: false, timeout: WAIT_MS, minTimeout: 100, connectionParams: { Authorization: `Bearer ${buyer.token}` } },
        WebSocket,
      );
      try {
        const connected = new Promise((resolve, reject) => {
          client.onConnected(resolve);
          client.onError((e) => reject(new Error(`the client failed: ${e?.message || e?.type || e}`)));
        });
        await within(WAIT_MS, connected, 'connection_ack');
        const first = await within(
          WAIT_MS,
          new Promise((resolve, reject) => {
            const subscription = client
              .request({ query: SEAT_MAP, variables: { s: demo.sessionId } })
              .subscribe({
                next: (value) => {
                  subscription.unsubscribe();
                  resolve(value);
                },
                error: (e) => reject(new Error(JSON.stringify(e))),
              });
          }),
          'the first seatMapUpdates event',
        );
        if (first.data?.seatMapUpdates?.__typename !== 'SeatMapSnapshot') {
          throw new Error(`the first event is ${JSON.stringify(first).slice(0, 200)}`);
        }
        const me = await within(
          WAIT_MS,
          new Promise((resolve, reject) => {
            client.request({ query: '{ me { email } }' }).subscribe({ next: resolve, error: (e) => reject(new Error(JSON.stringify(e))) });
          }),
          'the answer to { me { email } }',
        );
        if (me.data?.me?.email !== buyer.email) throw new Error(`{ me } answered ${JSON.stringify(me)}`);
        return `connected, SeatMapSnapshot, stop, { me } as ${buyer.email}`;
      } finally {
        client.close(true, true);
      }
    });

    await Promise.all(slow);

    const passed = results.filter((r) => r.ok).length;
    Object.assign(figures, {
      passed,
      failed: results.length - passed,
      initTimeoutMs,
      cases: Object.fromEntries(results.map((r) => [r.name, r.ok ? 'pass' : `FAIL: ${r.detail}`])),
    });
    const failures = results.filter((r) => !r.ok);
    if (failures.length) {
      fail(`${failures.length} of ${results.length} cases failed: ${failures.map((r) => r.name).join('; ')}`);
    }
  },
  { timeoutMs: 55_000 },
);
