// Curtain's GraphiQL: mounts the vendored GraphiQL 3 (vendor/graphiql.min.js, on React 18)
// on this page, with a fetcher that sends queries and mutations to /graphql over HTTP and
// subscriptions over a WebSocket at /graphql (protocol graphql-transport-ws, through the
// vendored graphql-ws client). The access token typed in the headers editor goes with both:
// as the Authorization header over HTTP, and as the `connection_init` payload
// `{"Authorization": "Bearer …"}` over the WebSocket.
//
// Loaded with `defer` after the vendored scripts, so React, ReactDOM, GraphiQL and graphqlWs
// are globals by now. No inline script anywhere: the page runs under a strict CSP.
(function () {
  'use strict';

  var TOKEN_PLACEHOLDER = '<paste an access token from logIn>';
  var DEFAULT_HEADERS = JSON.stringify({ Authorization: 'Bearer ' + TOKEN_PLACEHOLDER }, null, 2);
  var HTTP_URL = new URL('/graphql', window.location.href).href;
  var WS_URL = HTTP_URL.replace(/^http/, 'ws');
  // How long the page waits for a demo session to prefill the examples with.
  var PREFILL_TIMEOUT_MS = 3000;

  // ---- Headers ------------------------------------------------------------------------

  /** The Authorization header's value typed in the editor, or null when left unfilled. */
  function authorization(headers) {
    var value = null;
    Object.keys(headers || {}).forEach(function (name) {
      if (name.toLowerCase() === 'authorization' && typeof headers[name] === 'string') {
        value = headers[name];
      }
    });
    if (value === null) return null;
    var token = value.trim().replace(/^bearer\s*/i, '');
    // Still the placeholder (or empty): the caller is anonymous.
    if (token === '' || /^<.*>$/.test(token)) return null;
    return value.trim();
  }

  /** The headers to send over HTTP: as typed, without an unfilled Authorization. */
  function httpHeaders(headers) {
    var out = {};
    var auth = authorization(headers);
    Object.keys(headers || {}).forEach(function (name) {
      if (name.toLowerCase() !== 'authorization') out[name] = headers[name];
    });
    if (auth !== null) out.Authorization = auth;
    return out;
  }

  // ---- Subscriptions over graphql-ws --------------------------------------------------

  // One client per Authorization value: a socket authenticates once, at connection_init, so
  // a new token needs a new socket. Clients of earlier tokens are closed once idle.
  var clients = new Map();

  function clientFor(auth) {
    var key = auth === null ? '' : auth;
    var entry = clients.get(key);
    if (entry) return entry;
    clients.forEach(function (other, otherKey) {
      if (other.running === 0) {
        other.client.dispose();
        clients.delete(otherKey);
      }
    });
    entry = {
      running: 0,
      client: window.graphqlWs.createClient({
        url: WS_URL,
        connectionParams: auth === null ? undefined : { Authorization: auth },
        // Connects with the first subscription, closes after the last one ends.
        lazy: true,
        // A refused token or a dropped socket is shown in the result pane, not retried.
        retryAttempts: 0,
      }),
    };
    clients.set(key, entry);
    return entry;
  }

  /** What the result pane shows for a failed subscription. */
  function failure(error) {
    if (Array.isArray(error)) return error; // GraphQL errors from the server's `error` message
    if (error && typeof error.code === 'number' && 'reason' in error) {
      return {
        message:
          'The WebSocket closed with ' + error.code + (error.reason ? ': ' + error.reason : ''),
      };
    }
    if (error instanceof Error) return { message: error.message };
    return { message: 'The WebSocket to ' + WS_URL + ' failed (is the server up?)' };
  }

  /** Runs a subscription; GraphiQL gets an observable it can unsubscribe from (Stop). */
  function subscribe(params, headers) {
    return {
      subscribe: function (observer) {
        var entry = clientFor(authorization(headers));
        var ended = false;
        entry.running += 1;
        function end() {
          if (!ended) {
            ended = true;
            entry.running -= 1;
          }
        }
        var dispose = entry.client.subscribe(
          {
            query: params.query,
            variables: params.variables || undefined,
            operationName: params.operationName || undefined,
          },
          {
            next: function (value) {
              observer.next(value);
            },
            error: function (error) {
              end();
              observer.error(failure(error));
            },
            complete: function () {
              end();
              observer.complete();
            },
          },
        );
        return {
          unsubscribe: function () {
            end();
            dispose();
          },
        };
      },
    };
  }

  // ---- The fetcher --------------------------------------------------------------------

  /** The type of the operation GraphiQL is about to run: query, mutation or subscription. */
  function operationType(params, options) {
    var document = options && options.documentAST;
    if (document) {
      var operations = document.definitions.filter(function (d) {
        return d.kind === 'OperationDefinition';
      });
      var chosen = params.operationName
        ? operations.find(function (d) {
            return d.name && d.name.value === params.operationName;
          })
        : operations[0];
      return chosen ? chosen.operation : 'query';
    }
    var text = String(params.query || '').replace(/#[^\n\r]*/g, '');
    return /^\s*subscription\b/.test(text) ? 'subscription' : 'query';
  }

  var http = window.GraphiQL.createFetcher({ url: HTTP_URL });

  function fetcher(params, options) {
    var headers = (options && options.headers) || {};
    if (operationType(params, options) === 'subscription') {
      return subscribe(params, headers);
    }
    return http(params, Object.assign({}, options, { headers: httpHeaders(headers) }));
  }

  // ---- The example tabs ---------------------------------------------------------------

  function variables(object) {
    return JSON.stringify(object, null, 2);
  }

  function examples(demo) {
    var session = demo.sessionId || '<a session id from the first tab>';
    var grade = demo.grade || '<a grade from priceTiers, e.g. R>';
    var key = 'graphiql-' + Math.random().toString(36).slice(2, 10);
    var tabs = [
      {
        query: [
          '# Musicals: venue, cast, sessions, prices.',
          '# Run: ▶ or Ctrl-Enter. More in the tabs.',
          'query Performances {',
          '  performances(',
          '    first: 5',
          '    filter: { genre: MUSICAL }',
          '  ) {',
          '    edges {',
          '      node {',
          '        title englishTitle startDate endDate',
          '        venue { name region }',
          '        cast { role castMember { name } }',
          '        sessions {',
          '          id startsAt saleState',
          '          availableSeatCount totalSeatCount',
          '        }',
          '        priceTiers { grade price }',
          '      }',
          '    }',
          '    pageInfo { hasNextPage endCursor }',
          '  }',
          '}',
          '',
        ].join('\n'),
      },
      {
        query: [
          "# A session's seat map: each seat's grade,",
          '# price, status and place. The session id',
          '# ($s) is in Variables: take others from',
          '# the first tab.',
          'query SeatMap($s: ID!) {',
          '  seatMap(sessionId: $s) {',
          '    version availableCount',
          '    seats { id section row number grade price status x y }',
          '  }',
          '}',
          '',
        ].join('\n'),
        variables: variables({ s: session }),
      },
      {
        query: [
          '# The live seat map, over a WebSocket: a',
          '# SeatMapSnapshot, then a SeatMapDelta for',
          '# each change. Hold a seat (last tab) to',
          '# see one arrive. With $after, only the',
          '# changes after that version.',
          'subscription SeatMapUpdates($s: ID!, $after: Int) {',
          '  seatMapUpdates(sessionId: $s, afterVersion: $after) {',
          '    __typename',
          '    ... on SeatMapSnapshot { version availableCount seats { id status } }',
          '    ... on SeatMapDelta { version availableCount changes { seatId status } }',
          '  }',
          '}',
          '',
        ].join('\n'),
        variables: variables({ s: session, after: null }),
      },
      {
        query: [
          '# Log in (or sign up), then put the token',
          '# in Headers below, after "Bearer ". It goes',
          '# with every request and subscription.',
          '# The demo accounts and their passwords are',
          '# printed when the server starts.',
          'mutation LogIn($email: String!, $password: String!) {',
          '  logIn(email: $email, password: $password) {',
          '    accessToken accessTokenExpiresAt refreshToken',
          '    user { id email name role }',
          '  }',
          '}',
          '',
          'mutation SignUp($email: String!, $password: String!, $name: String!) {',
          '  signUp(input: { email: $email, password: $password, name: $name }) {',
          '    accessToken accessTokenExpiresAt refreshToken',
          '    user { id email name role }',
          '  }',
          '}',
          '',
        ].join('\n'),
        variables: variables({
          email: 'you@example.com',
          password: '<at least 10 characters>',
          name: 'Your Name',
        }),
      },
      {
        query: [
          '# Hold seats (log in first: Headers). All',
          '# or none, at most 4 a session. The same',
          '# $key again returns the same reservation.',
          'mutation HoldSeats($s: ID!, $seats: [ID!]!, $key: String!) {',
          '  holdSeats(sessionId: $s, seatIds: $seats, idempotencyKey: $key) {',
          '    id status amount expiresAt seats { id price }',
          '  }',
          '}',
          '',
          '# Or let the server choose adjacent seats.',
          'mutation HoldBestAvailable($s: ID!, $count: Int!, $grade: String!, $key: String!) {',
          '  holdBestAvailable(sessionId: $s, count: $count, grade: $grade, idempotencyKey: $key) {',
          '    id status amount expiresAt seats { id price }',
          '  }',
          '}',
          '',
          'mutation ReleaseHold($reservation: ID!) {',
          '  releaseHold(reservationId: $reservation) { id status }',
          '}',
          '',
        ].join('\n'),
        variables: variables({
          s: session,
          seats: ['<seat ids from the seat map tab>'],
          count: 2,
          grade: grade,
          key: key,
          reservation: '<the id holdSeats returned>',
        }),
      },
    ];
    tabs.forEach(function (tab) {
      tab.headers = DEFAULT_HEADERS;
    });
    return tabs;
  }

  /** A session on sale (and one of its grades) to prefill the examples with, if any. */
  function findDemoSession() {
    var controller = new AbortController();
    var timer = setTimeout(function () {
      controller.abort();
    }, PREFILL_TIMEOUT_MS);
    return fetch(HTTP_URL, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({
        query:
          'query GraphiQLExamples { performances(first: 10) { edges { node { sessions { id saleState prices { grade } } } } } }',
      }),
      signal: controller.signal,
    })
      .then(function (response) {
        return response.json();
      })
      .then(function (body) {
        var sessions = [];
        body.data.performances.edges.forEach(function (edge) {
          sessions = sessions.concat(edge.node.sessions);
        });
        var session =
          sessions.find(function (s) {
            return s.saleState === 'ON_SALE';
          }) || sessions[0];
        if (!session) return {};
        return {
          sessionId: session.id,
          grade: session.prices && session.prices[0] ? session.prices[0].grade : null,
        };
      })
      .catch(function () {
        return {};
      })
      .finally(function () {
        clearTimeout(timer);
      });
  }

  function mount(demo) {
    var container = document.getElementById('graphiql');
    var root = window.ReactDOM.createRoot(container);
    root.render(
      window.React.createElement(window.GraphiQL, {
        fetcher: fetcher,
        defaultTabs: examples(demo),
        defaultHeaders: DEFAULT_HEADERS,
        isHeadersEditorEnabled: true,
        // Tokens stay out of localStorage unless the user ticks the setting.
        shouldPersistHeaders: false,
        defaultEditorToolsVisibility: true,
      }),
    );
  }

  findDemoSession().then(mount);
})();
