// GraphiQL at /graphiql in Debian's Chromium (puppeteer-core): it renders offline under the
// page's Content-Security-Policy, runs the first example tab's query over HTTP, and runs a
// seatMapUpdates subscription over the WebSocket, showing its snapshot and then a delta
// for a seat another client holds over HTTP. Then it logs in through the LogIn tab, and
// with the token in the headers editor runs notificationReceived (connection_init carries
// {"Authorization": "Bearer <token>"}; a refused token shows the 4403 close).
//
//   node tests/clients/graphiql.mjs http://127.0.0.1:PORT [--screenshots DIR]
//
// Fails on any console error, uncaught page error, CSP violation, failed request or request
// to another origin. On failure a screenshot goes to tests/clients/screenshots/. With
// --screenshots DIR, a 1280x800 screenshot of a query result is saved as DIR/graphiql.png.

import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { check, data, demoSession, launchChromium, signUp, sleep, within } from './lib.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const WAIT_MS = 15_000;

/** The first defined value `probe` gives, asking every 50 ms for at most `ms`. */
async function poll(probe, what, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await sleep(50);
  }
}

check(
  'graphiql',
  async ({ base, args, log, fail, figures }) => {
    const origin = new URL(base).origin;
    const problems = [];
    const { browser, close } = await launchChromium({ width: 1280, height: 800 });
    let page;
    try {
      page = await browser.newPage();
      page.setDefaultTimeout(WAIT_MS);
      // CSP violations, as the page itself sees them.
      await page.evaluateOnNewDocument(() => {
        window.__cspViolations = [];
        document.addEventListener('securitypolicyviolation', (e) => {
          window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} at ${e.sourceFile}:${e.lineNumber}`);
        });
      });
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
      });
      page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
      page.on('requestfailed', (request) => {
        // An aborted request was cancelled by the page (a fetch given up, a stopped
        // subscription), not refused by the server.
        const reason = request.failure()?.errorText;
        if (reason === 'net::ERR_ABORTED') return;
        problems.push(`request failed: ${request.url()} (${reason})`);
      });
      let requests = 0;
      page.on('request', (request) => {
        requests += 1;
        const url = request.url();
        if (!url.startsWith('data:') && !url.startsWith('blob:') && new URL(url).origin !== origin) {
          problems.push(`a request left the server: ${url}`);
        }
      });

      // The WebSocket messages the page sends and receives, read through the DevTools protocol.
      const frames = [];
      const cdp = await page.createCDPSession();
      await cdp.send('Network.enable');
      for (const [event, direction] of [
        ['Network.webSocketFrameSent', 'sent'],
        ['Network.webSocketFrameReceived', 'received'],
      ]) {
        cdp.on(event, ({ response }) => {
          try {
            frames.push({ direction, message: JSON.parse(response.payloadData) });
          } catch {
            frames.push({ direction, message: { type: '(not JSON)' } });
          }
        });
      }
      const waitForFrame = (direction, test, what) =>
        poll(() => frames.find((f) => f.direction === direction && test(f.message))?.message, what);

      // The page, its CSP, and GraphiQL with the example tabs.
      const response = await page.goto(`${base}/graphiql`, { waitUntil: 'load', timeout: WAIT_MS });
      figures.status = response.status();
      const csp = response.headers()['content-security-policy'] || null;
      figures.csp = csp ? 'present' : 'absent';
      if (response.status() !== 200) fail(`/graphiql answered ${response.status()}`);
      if (!csp) problems.push('/graphiql has no Content-Security-Policy header');
      else if (/'unsafe-eval'/.test(csp) || /script-src[^;]*'unsafe-inline'/.test(csp)) {
        problems.push(`the CSP allows scripts it should not: ${csp}`);
      }
      await page.waitForSelector('.graphiql-container .graphiql-query-editor .CodeMirror', { timeout: WAIT_MS });
      const tabs = await page.$$eval('.graphiql-tab-button', (buttons) => buttons.map((b) => b.textContent.trim()));
      figures.tabs = tabs;
      if (tabs.length < 5) problems.push(`${tabs.length} example tabs, expected 5: ${tabs.join(', ')}`);
      // The schema arrives by introspection: the doc explorer and completion need it.
      await page.waitForFunction(
        () => !document.querySelector('.graphiql-spinner') && document.querySelector('.graphiql-execute-button'),
        { timeout: WAIT_MS },
      );

      /** Waits until `fn(...params)` is truthy in the page, at most WAIT_MS; fails naming `what`. */
      const until = (what, fn, ...params) =>
        within(WAIT_MS, page.waitForFunction(fn, { timeout: WAIT_MS + 1_000, polling: 50 }, ...params), what);
      /**
       * Waits until the query editor holds an operation named `name` and GraphiQL has read it:
       * GraphiQL parses the editor a moment after each change (debounced) and runs the
       * operation named then, so running earlier would run the previous text's operation.
       */
      const queryReady = (name) =>
        until(
          `GraphiQL to read operation ${name} from the query editor`,
          (operation) => {
            const cm = document.querySelector('.graphiql-query-editor .CodeMirror')?.CodeMirror;
            return !!cm
              && cm.documentAST?.loc?.source?.body === cm.getValue()
              && (cm.operations || []).some((op) => op.name?.value === operation);
          },
          name,
        );
      /** Waits until no operation runs: the execute button offers to execute, not to stop. */
      const idle = (what) =>
        until(what, () => document.querySelector('.graphiql-execute-button')?.getAttribute('aria-label')?.startsWith('Execute'));
      const editorText = (selector) =>
        page.$eval(selector, (element) => element.CodeMirror.getValue());
      const result = () => editorText('.result-window .CodeMirror');
      const waitForResult = (test, what, ms = WAIT_MS) =>
        poll(async () => {
          const text = await result();
          return test(text) ? text : undefined;
        }, `the result pane to show ${what}`, ms);
      const openTab = async (title) => {
        const buttons = await page.$$('.graphiql-tab-button');
        for (const button of buttons) {
          if ((await button.evaluate((b) => b.textContent.trim())) === title) {
            await button.click();
            await until(
              `tab ${title} to be the active one`,
              (name) => document.querySelector('.graphiql-tab[aria-selected="true"] .graphiql-tab-button')?.textContent.trim() === name,
              title,
            );
            // The editors take the tab's contents, then GraphiQL reads the operation from them.
            await queryReady(title);
            return;
          }
        }
        throw new Error(`no tab named ${title}`);
      };

      /** Sets the variables or headers editor of the open tab (GraphiQL reads both when it runs). */
      const setTool = async (name, text) => {
        await page.click(`.graphiql-editor-tools button[data-name="${name}"]`);
        await until(`the ${name} editor to show`, (tool) =>
          document.querySelector(`.graphiql-editor-tools button[data-name="${tool}"]`)?.classList.contains('active'), name);
        await page.evaluate((value) => {
          const editor = [...document.querySelectorAll('.graphiql-editor-tool .graphiql-editor')].find(
            (element) => !element.classList.contains('hidden'),
          );
          editor.querySelector('.CodeMirror').CodeMirror.setValue(value);
        }, text);
        await until(`the ${name} editor to hold the text`, (value) => {
          const editor = [...document.querySelectorAll('.graphiql-editor-tool .graphiql-editor')].find(
            (element) => !element.classList.contains('hidden'),
          );
          return editor?.querySelector('.CodeMirror')?.CodeMirror.getValue() === value;
        }, text);
      };
      /** Runs the open tab's operation, choosing `operation` when the document has several. */
      const execute = async (operation) => {
        await page.click('.graphiql-execute-button');
        if (!operation) return;
        const item = await page.waitForFunction(
          (name) =>
            [...document.querySelectorAll('.graphiql-dropdown-item')].find((element) => element.textContent.trim() === name),
          { timeout: WAIT_MS },
          operation,
        );
        await item.asElement().click();
      };

      // 1. The first tab's query, run with the execute button.
      await openTab(tabs[0]);
      const query = await editorText('.graphiql-query-editor .CodeMirror');
      await execute();
      const queryResult = JSON.parse(await waitForResult((t) => t.includes('"data"') || t.includes('"errors"'), 'a query result'));
      if (queryResult.errors || !queryResult.data?.performances?.edges?.length) {
        fail(`the first tab's query answered ${JSON.stringify(queryResult).slice(0, 300)}`);
      }
      figures.queryPerformances = queryResult.data.performances.edges.length;
      log(`query (${query.match(/query (\w+)/)?.[1]}): ${figures.queryPerformances} performances`);
      if (args.screenshots) {
        const dir = resolve(String(args.screenshots));
        mkdirSync(dir, { recursive: true });
        // No focus ring or tooltip in the picture: blur, move the pointer away, and let the
        // page paint that (two animation frames).
        await page.evaluate(() => document.activeElement?.blur());
        await page.mouse.move(0, 0);
        await until('the page to lose focus', () => document.activeElement === document.body || !document.activeElement);
        await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
        const path = join(dir, 'graphiql.png');
        await page.screenshot({ path, type: 'png' });
        figures.screenshot = path;
      }

      // 2. A seatMapUpdates subscription of a demo session, over the WebSocket.
      const demo = await demoSession(base, { seats: 1 });
      await openTab('SeatMapUpdates');
      await setTool('variables', JSON.stringify({ s: demo.sessionId }, null, 2));
      await execute();
      const snapshot = JSON.parse(await waitForResult((t) => t.includes('SeatMapSnapshot') || t.includes('"errors"'), 'a SeatMapSnapshot'));
      if (snapshot.data?.seatMapUpdates?.__typename !== 'SeatMapSnapshot') {
        fail(`the subscription answered ${JSON.stringify(snapshot).slice(0, 300)}`);
      }
      figures.snapshotVersion = snapshot.data.seatMapUpdates.version;
      log(`subscription: SeatMapSnapshot v${figures.snapshotVersion} of ${demo.title}`);

      // 3. Another client holds a seat over HTTP: the delta shows in the result pane.
      const buyer = await signUp(base);
      const seat = demo.seatIds[0];
      const held = await data(
        base,
        `mutation($s: ID!, $seats: [ID!]!, $key: String!) { holdSeats(sessionId: $s, seatIds: $seats, idempotencyKey: $key) { id } }`,
        { token: buyer.token, variables: { s: demo.sessionId, seats: [seat], key: `graphiql-${Date.now()}` } },
      );
      try {
        const delta = JSON.parse(await waitForResult((t) => t.includes('SeatMapDelta') && t.includes(seat), `a SeatMapDelta for seat ${seat}`));
        figures.deltaVersion = delta.data.seatMapUpdates.version;
        log(`subscription: SeatMapDelta v${figures.deltaVersion} with ${JSON.stringify(delta.data.seatMapUpdates.changes)}`);
      } finally {
        await data(base, `mutation($r: ID!) { releaseHold(reservationId: $r) { id } }`, {
          token: buyer.token,
          variables: { r: held.holdSeats.id },
        });
      }
      // Stop: the execute button stops a running subscription.
      await execute();
      await idle('the SeatMapUpdates subscription to stop');

      // 4. Log in through the LogIn tab, and put the token in the headers editor: a
      //    subscription that needs the account then runs (its connection_init carries the
      //    token), and one with a refused token shows the 4403 close.
      await openTab('LogIn');
      await setTool('variables', JSON.stringify({ email: buyer.email, password: buyer.password, name: 'x' }, null, 2));
      await execute('LogIn');
      const login = JSON.parse(await waitForResult((t) => t.includes('accessToken') || t.includes('"errors"'), 'the logIn answer'));
      const token = login.data?.logIn?.accessToken;
      if (!token) fail(`logIn in GraphiQL answered ${JSON.stringify(login).slice(0, 300)}`);
      await openTab('SeatMapUpdates');
      await page.evaluate((text) => {
        document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(text);
      }, 'subscription Notifications {\n  notificationReceived { kind title }\n}\n');
      await queryReady('Notifications');
      await setTool('headers', JSON.stringify({ Authorization: 'Bearer not.a.token' }, null, 2));
      await execute();
      await waitForResult((t) => t.includes('closed with 4403'), 'the 4403 close of a refused token');
      figures.refusedToken = 4403;
      // The next click must run again, not stop a subscription still winding down.
      await idle('the refused subscription to end');
      await setTool('headers', JSON.stringify({ Authorization: `Bearer ${token}` }, null, 2));
      frames.length = 0;
      await execute();
      // The token typed in the headers editor is the connection_init payload, as it was typed.
      const init = await waitForFrame('sent', (m) => m.type === 'connection_init', 'connection_init');
      if (JSON.stringify(init.payload) !== JSON.stringify({ Authorization: `Bearer ${token}` })) {
        fail(`connection_init carried ${JSON.stringify(init.payload)}, not {"Authorization": "Bearer <the token>"}`);
      }
      await waitForFrame('received', (m) => m.type === 'connection_ack', 'connection_ack');
      await waitForFrame('sent', (m) => m.type === 'subscribe', 'subscribe');
      // Notifications are pushed live, not replayed: a hold made before the server has set up
      // the subscription notifies nobody here, so hold (and release) until one arrives. The
      // server does not say when a subscription is set up, so the pause before each attempt is
      // a plain one; the attempts, not the pause, make this reliable.
      let notified = null;
      for (let attempt = 1; attempt <= 4 && !notified; attempt += 1) {
        await sleep(300);
        const hold = await data(
          base,
          `mutation($s: ID!, $seats: [ID!]!, $key: String!) { holdSeats(sessionId: $s, seatIds: $seats, idempotencyKey: $key) { id } }`,
          { token: buyer.token, variables: { s: demo.sessionId, seats: [seat], key: `graphiql-${attempt}-${Date.now()}` } },
        );
        try {
          const text = await waitForResult(
            (t) => t.includes('notificationReceived') || (t.includes('"errors"') && !t.includes('4403')),
            'a notification',
            3_000,
          ).catch(() => null);
          if (text) notified = JSON.parse(text);
        } finally {
          await data(base, `mutation($r: ID!) { releaseHold(reservationId: $r) { id } }`, {
            token: buyer.token,
            variables: { r: hold.holdSeats.id },
          });
        }
        figures.notificationAttempts = attempt;
      }
      if (!notified?.data?.notificationReceived) {
        fail(`notificationReceived in GraphiQL answered ${notified ? JSON.stringify(notified).slice(0, 300) : 'nothing'}`);
      }
      figures.notification = notified.data.notificationReceived.kind;
      log(`logged in through GraphiQL: notificationReceived ${JSON.stringify(notified.data.notificationReceived)}`);
      await execute();
      await idle('the Notifications subscription to stop');

      const violations = await page.evaluate(() => window.__cspViolations);
      for (const violation of violations) problems.push(`CSP violation: ${violation}`);
      figures.cspViolations = violations.length;
      figures.requests = requests;
      figures.problems = problems.length;
      if (problems.length) fail(`${problems.length} problem(s) in the page: ${problems[0]}`);
    } catch (err) {
      if (page) {
        const dir = join(HERE, 'screenshots');
        mkdirSync(dir, { recursive: true });
        const path = join(dir, 'graphiql-failure.png');
        await within(5_000, page.screenshot({ path }), 'a failure screenshot').catch(() => {});
        log(`screenshot: ${path}`);
        for (const problem of problems) log(`- ${problem}`);
      }
      throw err;
    } finally {
      await close();
    }
  },
  { timeoutMs: 55_000 },
);
