// Shared helpers of the client checks (tests/clients/*.mjs). Each check is
//
//   node tests/clients/<name>.mjs http://127.0.0.1:PORT [--screenshots DIR]
//
// and prints one JSON line of figures as its last line of standard output, exiting 0 when
// everything passed and 1 (with the reasons on standard error) when not.
//
// The API, kept small:
//
//   check(name, fn, { timeoutMs, needsBase })
//                                   runs `await fn(ctx)` with ctx = { base, args, figures,
//                                   log, fail } under a watchdog (default 50 s). fn returns
//                                   figures (or adds them to ctx.figures); it throws, or
//                                   calls ctx.fail(message), to fail. Prints the summary line
//                                   {"check": name, "ok": bool, ...figures} and exits.
//                                   needsBase: false for checks without a server.
//   within(ms, promise, what)       the promise, or an Error "timed out after ms: what".
//   sleep(ms)
//   graphql(base, query, { variables, token, operationName, timeoutMs })
//                                   POST /graphql, JSON in and out; { status, body, text }.
//   data(base, query, options)      the same, throwing unless there are data and no errors.
//   signUp(base)                    a fresh buyer account: { email, password, token }.
//   demoSession(base, { seats })    a session on sale with its first `seats` available seat
//                                   ids: { sessionId, title, seatIds, version }.
//   launchChromium({ width, height, args })
//                                   Debian's Chromium (CHROMIUM_PATH, default
//                                   /usr/bin/chromium) through puppeteer-core, headless, with
//                                   CHROMIUM_ARGS, then `args` (extra flags a check needs, such
//                                   as --lang=ko-KR), and a fresh temporary profile, viewport
//                                   1280x800 by default; { browser, close() } (close() also
//                                   deletes the profile). Never downloads a browser.
//   parseArgs(argv)                 { base, args }: the base URL and --name value flags.
//
// Nothing here keeps the event loop alive once a check is done: check() exits explicitly.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Default time a whole check may take before the watchdog fails it. */
export const CHECK_TIMEOUT_MS = 50_000;
/** Default time one HTTP request may take. */
export const REQUEST_TIMEOUT_MS = 10_000;

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves or rejects as `promise` does, or rejects after `ms` naming `what`. */
export function within(ms, promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The base URL (first argument, without a trailing slash) and the `--name value` flags. */
export function parseArgs(argv = process.argv.slice(2)) {
  const args = { _: [] };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg.startsWith('--')) {
      const [name, inline] = arg.slice(2).split('=', 2);
      if (inline !== undefined) args[name] = inline;
      else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) args[name] = argv[++i];
      else args[name] = true;
    } else {
      args._.push(arg);
    }
  }
  const base = (args._[0] || process.env.CURTAIN_URL || '').replace(/\/+$/, '');
  return { base, args };
}

class CheckFailure extends Error {}

/**
 * Runs a check and exits: 0 with its figures when `fn` returns, 1 when it throws, calls
 * `ctx.fail`, or outlives `timeoutMs`.
 */
export async function check(name, fn, { timeoutMs = CHECK_TIMEOUT_MS, needsBase = true } = {}) {
  const { base, args } = parseArgs();
  const figures = {};
  const finish = (ok, extra = {}) => {
    // `ok` is the verdict, whatever the figures hold.
    console.log(JSON.stringify({ check: name, ok, ...figures, ...extra, ok }));
    process.exit(ok ? 0 : 1);
  };
  if (needsBase && !/^https?:\/\/./.test(base)) {
    console.error(`usage: node ${name}.mjs http://127.0.0.1:PORT`);
    finish(false, { error: 'no base URL given' });
  }
  const watchdog = setTimeout(() => {
    console.error(`FAIL ${name}: the check did not finish within ${timeoutMs} ms`);
    finish(false, { error: `timed out after ${timeoutMs} ms` });
  }, timeoutMs);
  const ctx = {
    base,
    args,
    /** Figures gathered so far are printed even when the check fails later. */
    figures,
    log: (...parts) => console.error(...parts),
    fail: (message) => {
      throw new CheckFailure(message);
    },
  };
  try {
    const result = await fn(ctx);
    Object.assign(figures, result || {});
  } catch (err) {
    clearTimeout(watchdog);
    const message = err instanceof CheckFailure ? err.message : err?.stack || String(err);
    console.error(`FAIL ${name}: ${message}`);
    finish(false, { error: err?.message || String(err) });
  }
  clearTimeout(watchdog);
  finish(true);
}

/** POST /graphql with JSON; { status, body } (body is null when not JSON). */
export async function graphql(base, query, options = {}) {
  const { variables, token, operationName, timeoutMs = REQUEST_TIMEOUT_MS } = options;
  const headers = { 'content-type': 'application/json', accept: 'application/graphql-response+json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ query, variables, operationName }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = null;
  }
  return { status: response.status, body, text };
}

/** The `data` of a request that must succeed; throws with the errors otherwise. */
export async function data(base, query, options = {}) {
  const { status, body, text } = await graphql(base, query, options);
  if (!body || body.errors || !body.data) {
    const what = query.replace(/\s+/g, ' ').slice(0, 80);
    throw new Error(`${what}… answered ${status}: ${text.slice(0, 500)}`);
  }
  return body.data;
}

/** A new buyer account, logged in. */
export async function signUp(base) {
  const email = `check-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@example.com`;
  const password = `Pw-${Math.random().toString(36).slice(2)}-long`;
  const result = await data(
    base,
    `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }`,
    { variables: { input: { email, password, name: 'Client Check' } } },
  );
  return { email, password, token: result.signUp.accessToken };
}

/**
 * A session on sale, with the ids of its first `seats` available seats (seat map order), so
 * checks can hold and watch seats.
 */
export async function demoSession(base, { seats = 2 } = {}) {
  const found = await data(
    base,
    `{ performances(first: 20) { edges { node { title sessions { id saleState availableSeatCount } } } } }`,
  );
  for (const { node } of found.performances.edges) {
    for (const session of node.sessions) {
      if (session.saleState !== 'ON_SALE' || session.availableSeatCount < seats) continue;
      const map = await data(
        base,
        `query($s: ID!) { seatMap(sessionId: $s) { version seats { id status } } }`,
        { variables: { s: session.id } },
      );
      const seatIds = map.seatMap.seats
        .filter((seat) => seat.status === 'AVAILABLE')
        .slice(0, seats)
        .map((seat) => seat.id);
      if (seatIds.length === seats) {
        return { sessionId: session.id, title: node.title, seatIds, version: map.seatMap.version };
      }
    }
  }
  throw new Error('no session on sale with available seats: is the demo catalog loaded?');
}

/** Flags for Chromium on a machine with no display, GPU, sandbox or outside network. */
export const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Debian's Chromium under puppeteer-core, with a fresh profile removed by close(). `args` are
 * added after CHROMIUM_ARGS, for what only one check needs (a UI language, hidden scrollbars).
 */
export async function launchChromium({ width = 1280, height = 800, args = [] } = {}) {
  const { default: puppeteer } = await import('puppeteer-core');
  const profile = mkdtempSync(join(tmpdir(), 'curtain-chromium-'));
  let browser;
  try {
    browser = await within(
      30_000,
      puppeteer.launch({
        executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
        headless: true,
        args: [...CHROMIUM_ARGS, `--user-data-dir=${profile}`, `--window-size=${width},${height}`, ...args],
        defaultViewport: { width, height },
        timeout: 30_000,
        protocolTimeout: 30_000,
      }),
      'launching Chromium',
    );
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  return {
    browser,
    async close() {
      await within(10_000, browser.close(), 'closing Chromium').catch(() => browser.process()?.kill('SIGKILL'));
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
