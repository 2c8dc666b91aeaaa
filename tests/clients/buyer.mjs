// The buyer web app in Debian's Chromium, end to end:
//
//   node tests/clients/buyer.mjs http://127.0.0.1:PORT [--screenshots DIR]
//
// against a server with the demo catalog. A buyer opens `/`, signs up, searches for a
// demo performance, opens it and a session's seat map, chooses two available seats, holds
// them, pays with the simulated provider and finds the two tickets on "my page".
// Meanwhile a second, separate browser context (not logged in) has had the same seat map
// open since before the hold: the two seats must turn HELD and then SOLD there without a
// reload, over the live subscription. Along the way: the page carries a Content-Security-
// Policy, and neither page logs a console error, an uncaught exception or a CSP violation.
//
// Prints one JSON line of figures last (steps with their timings) and exits 0; on a failure
// saves full-page screenshots of both pages to tests/clients/screenshots/ and exits 1 with
// the reason on standard error. Every wait is bounded, and so is the whole run. The summary
// line, the exit, the argument parsing and Chromium come from lib.mjs (check(),
// launchChromium()).
//
// With `--screenshots DIR` it also saves the README's pictures at 1280x800: web-home.png,
// web-seat-map.png (a hold in checkout) and web-tickets.png.

import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { check, launchChromium, sleep, within } from './lib.mjs';

/** Longest any single wait may take. */
const WAIT_MS = 15_000;
/** Longest the whole run may take; past it, the run fails like any other step (screenshots). */
const RUN_MS = 90_000;
/**
 * check()'s own watchdog, only a backstop: it exits without screenshots, so it waits for the
 * run's deadline plus the failure screenshots (5 s a page) and closing Chromium (10 s).
 */
const CHECK_MS = RUN_MS + 25_000;
/** A demo performance (api/src/demo/catalog.toml) with sessions on sale for weeks. */
const QUERY = '레미제라블';
const FAILURE_DIR = fileURLToPath(new URL('./screenshots/', import.meta.url));

const steps = [];
const problems = []; // console errors, page errors, CSP violations
const pages = {}; // name -> page, for the failure screenshots
let chromium = null; // launchChromium()'s { browser, close } once launched

/** Full-page screenshots of every page watched so far; the paths saved. */
async function failureScreenshots() {
  const saved = [];
  try {
    mkdirSync(FAILURE_DIR, { recursive: true });
    for (const [name, page] of Object.entries(pages)) {
      const path = join(FAILURE_DIR, `buyer-${name}.png`);
      // A hung page must not hang the failure report too.
      await within(5_000, page.screenshot({ path, fullPage: true }), `screenshot of ${name}`)
        .then(() => saved.push(path))
        .catch(() => {});
    }
  } catch {
    // The reason matters more than the pictures.
  }
  return saved;
}

/** Runs one named step, timing it; any wait inside is bounded by WAIT_MS. */
async function step(name, fn) {
  const started = Date.now();
  try {
    const result = await fn();
    steps.push({ step: name, ms: Date.now() - started });
    return result;
  } catch (err) {
    throw new Error(`step "${name}": ${err?.message || err}`);
  }
}

async function watch(page, name) {
  pages[name] = page;
  page.setDefaultTimeout(WAIT_MS);
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`[${name}] console error: ${message.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`[${name}] uncaught: ${err.message}`));
  // Reported by the browser as a DOM event as well as a console line; catch both.
  await page.evaluateOnNewDocument(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || 'inline'}`);
    });
  });
}

/** A README picture, only with --screenshots DIR. */
async function shot(page, screenshotDir, file) {
  if (!screenshotDir) return;
  mkdirSync(screenshotDir, { recursive: true });
  // Let transitions, images and fonts settle before the picture.
  await sleep(400);
  await page.screenshot({ path: join(screenshotDir, file) });
}

async function seatStatuses(page, ids) {
  return page.$$eval('[data-testid="seat"]', (els, wanted) => els
    .filter((el) => wanted.includes(el.getAttribute('data-seat-id')))
    .map((el) => el.getAttribute('data-status')), ids);
}

async function waitForSeats(page, ids, status) {
  await page.waitForFunction((wanted, want) => wanted.every((id) => {
    const el = document.querySelector(`[data-testid="seat"][data-seat-id="${CSS.escape(id)}"]`);
    return el && el.getAttribute('data-status') === want;
  }), { timeout: WAIT_MS, polling: 50 }, ids, status);
}

/** The buyer's journey and the second browser's view; the figures of the summary line. */
async function run(base, screenshotDir) {
  const csp = await step('csp header on /', async () => {
    const response = await fetch(`${base}/`, { signal: AbortSignal.timeout(WAIT_MS) });
    if (!response.ok) throw new Error(`GET / answered ${response.status}`);
    const policy = response.headers.get('content-security-policy');
    if (!policy) throw new Error('GET / has no Content-Security-Policy header');
    const scripts = policy.split(';').map((d) => d.trim()).find((d) => d.startsWith('script-src')) || '';
    if (!scripts.includes("'self'") || scripts.includes('unsafe-inline') || scripts.includes('unsafe-eval')) {
      throw new Error(`script-src is not strict: ${policy}`);
    }
    return policy;
  });

  // Korean UI, as the app's buyers see it. Puppeteer's headless mode already hides
  // scrollbars; asking again for the pictures keeps them clean should that default change.
  chromium = await step('launch chromium', () => launchChromium({
    width: 1280,
    height: 800,
    args: ['--lang=ko-KR', ...(screenshotDir ? ['--hide-scrollbars'] : [])],
  }));
  const { browser } = chromium;

  const buyer = (await browser.pages())[0] || await browser.newPage();
  await watch(buyer, 'buyer');
  // A separate context: its own storage, never logged in, like another person's browser.
  const viewerContext = await browser.createBrowserContext();
  const viewer = await viewerContext.newPage();
  await watch(viewer, 'viewer');

  await step('open home', async () => {
    const response = await buyer.goto(`${base}/`, { waitUntil: 'domcontentloaded', timeout: WAIT_MS });
    if (!response.headers()['content-security-policy']) throw new Error('the page came without its CSP');
    await buyer.waitForSelector('[data-testid="performance-card"]');
  });
  await shot(buyer, screenshotDir, 'web-home.png');

  const email = `buyer-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@example.com`;
  await step('sign up', async () => {
    await buyer.click('[data-testid="nav-login"]');
    await buyer.waitForSelector('[data-testid="to-signup"]');
    await buyer.click('[data-testid="to-signup"]');
    await buyer.waitForSelector('[data-testid="signup-form"]');
    await buyer.type('[data-testid="login-email"]', email);
    await buyer.type('[data-testid="login-password"]', `Curtain-web-${Math.random().toString(36).slice(2, 10)}!`);
    await buyer.type('[data-testid="signup-name"]', '김관객');
    await buyer.click('[data-testid="login-submit"]');
    await buyer.waitForFunction(() => document.querySelector('[data-testid="account-name"]')
      || document.querySelector('[data-testid="login-error"]'));
    const error = await buyer.$eval('[data-testid="login-error"]', (el) => el.textContent).catch(() => null);
    if (error) throw new Error(`sign-up refused: ${error}`);
  });

  await step('search', async () => {
    await buyer.waitForSelector('[data-testid="search-input"]');
    await buyer.type('[data-testid="search-input"]', QUERY);
    await buyer.click('[data-testid="search-submit"]');
    await buyer.waitForSelector('[data-testid="search-hit"][data-kind="PERFORMANCE"] [data-testid="search-hit-link"]');
    const facets = await buyer.$$('[data-testid="kind-facets"] .chip');
    if (facets.length < 2) throw new Error('the search page shows no kind facets');
  });

  await step('open performance', async () => {
    const links = await buyer.$$('[data-testid="search-hit"][data-kind="PERFORMANCE"] [data-testid="search-hit-link"]');
    let clicked = false;
    for (const link of links) {
      const text = await link.evaluate((el) => el.textContent);
      if (text.includes(QUERY)) {
        await link.click();
        clicked = true;
        break;
      }
    }
    if (!clicked) throw new Error(`no performance hit titled ${QUERY}`);
    await buyer.waitForSelector('[data-testid="performance-title"]');
    await buyer.waitForSelector('[data-testid="session-row"]');
  });

  const sessionId = await step('open seat map', async () => {
    const id = await buyer.$$eval('[data-testid="session-row"][data-sale-state="ON_SALE"]',
      (rows) => rows.find((row) => Number(row.getAttribute('data-available')) >= 2)?.getAttribute('data-session-id'));
    if (!id) throw new Error('no session on sale with two seats left');
    await buyer.click(`[data-testid="session-row"][data-session-id="${id}"] [data-testid="session-link"]`);
    await buyer.waitForSelector('[data-testid="seatmap"][data-live="live"]');
    return id;
  });

  await step('second browser opens the same map', async () => {
    await viewer.goto(`${base}/#/sessions/${encodeURIComponent(sessionId)}`, { waitUntil: 'domcontentloaded', timeout: WAIT_MS });
    await viewer.waitForSelector('[data-testid="seatmap"][data-live="live"]');
    // Proof there was no reload later: a reload would lose this.
    await viewer.evaluate(() => { window.__curtainNoReload = true; });
  });

  const seatIds = await step('choose two seats', async () => {
    // Two side by side in the frontmost row with room, as a buyer would.
    const ids = await buyer.$$eval('[data-testid="seat"][data-status="AVAILABLE"]', (els) => {
      const seats = els.map((el) => ({ id: el.getAttribute('data-seat-id'), x: Number(el.getAttribute('x')), y: Number(el.getAttribute('y')) }));
      for (const a of seats) {
        const b = seats.find((s) => s.y === a.y && Math.abs(s.x - a.x - 1) < 0.01);
        if (b) return [a.id, b.id];
      }
      return seats.slice(0, 2).map((s) => s.id);
    });
    if (ids.length < 2) throw new Error('fewer than two available seats on the map');
    const [first, second] = ids;
    await buyer.click(`[data-testid="seat"][data-seat-id="${first}"]`);
    // The keyboard reaches seats too: from the first, ArrowRight moves focus along the row.
    await buyer.$eval(`[data-testid="seat"][data-seat-id="${first}"]`, (el) => el.focus()); // an SVG element: focus() from the page
    await buyer.keyboard.press('ArrowRight');
    const focused = await buyer.evaluate(() => document.activeElement?.getAttribute('data-seat-id'));
    if (focused !== second) throw new Error(`ArrowRight moved focus to ${focused}, not to the seat beside (${second})`);
    await buyer.keyboard.press('Space');
    const pressed = await buyer.$$eval('[data-testid="seat"][aria-pressed="true"]', (els) => els.map((el) => el.getAttribute('data-seat-id')));
    if (pressed.length !== 2 || !ids.every((id) => pressed.includes(id))) throw new Error(`selected seats are ${pressed}, expected ${ids}`);
    const label = await buyer.$eval(`[data-testid="seat"][data-seat-id="${first}"]`, (el) => el.getAttribute('aria-label'));
    if (!label || !/\d/.test(label)) throw new Error(`seat has no useful aria-label: ${label}`);
    return ids;
  });

  await step('hold', async () => {
    await buyer.click('[data-testid="hold-button"]');
    await buyer.waitForFunction(() => {
      const countdown = document.querySelector('[data-testid="checkout"] [data-testid="countdown"]');
      return (countdown && /^\d\d:\d\d$/.test(countdown.textContent)) || document.querySelector('[data-testid="hold-error"]');
    });
    const error = await buyer.$eval('[data-testid="hold-error"]', (el) => el.textContent).catch(() => null);
    if (error) throw new Error(`hold refused: ${error}`);
  });

  await step('second browser sees the seats held', () => waitForSeats(viewer, seatIds, 'HELD'));
  if (screenshotDir) {
    // For the picture: the map one step closer, its panel at the top of the window.
    await buyer.click('[data-testid="zoom-in"]');
    await buyer.evaluate(() => {
      const panel = document.querySelector('.map-panel');
      window.scrollTo(0, panel.getBoundingClientRect().top + window.scrollY - 64);
    });
    await shot(buyer, screenshotDir, 'web-seat-map.png');
  }

  const paidAt = await step('pay (simulated)', async () => {
    await buyer.waitForSelector('[data-testid="pay-simulated"]');
    await buyer.click('[data-testid="pay-simulated"]');
    const at = Date.now();
    await buyer.waitForFunction(() => document.querySelector('[data-testid="payment-success"]')
      || document.querySelector('[data-testid="checkout-status"] .notice.error'));
    const error = await buyer.$eval('[data-testid="checkout-status"] .notice.error', (el) => el.textContent).catch(() => null);
    if (error) throw new Error(`payment refused: ${error}`);
    return at;
  });

  const liveMs = await step('second browser sees the seats sold, without reloading', async () => {
    await waitForSeats(viewer, seatIds, 'SOLD');
    const ms = Date.now() - paidAt;
    const same = await viewer.evaluate(() => window.__curtainNoReload === true);
    if (!same) throw new Error('the second page was reloaded');
    const statuses = await seatStatuses(viewer, seatIds);
    if (statuses.some((s) => s !== 'SOLD')) throw new Error(`statuses there: ${statuses}`);
    return ms;
  });

  await step('tickets on my page', async () => {
    await buyer.click('[data-testid="see-tickets"]');
    await buyer.waitForFunction((ids) => ids.every((id) => document.querySelector(`[data-testid="ticket"][data-seat-id="${CSS.escape(id)}"]`)),
      { timeout: WAIT_MS, polling: 100 }, seatIds);
    // Each ticket shows its QR code, and the image really decoded.
    await buyer.waitForFunction((ids) => ids.every((id) => {
      const img = document.querySelector(`[data-testid="ticket"][data-seat-id="${CSS.escape(id)}"] img[data-testid="ticket-qr"]`);
      return img && img.complete && img.naturalWidth > 0;
    }), { timeout: WAIT_MS, polling: 100 }, seatIds);
  });
  await shot(buyer, screenshotDir, 'web-tickets.png');

  await step('no console errors or CSP violations', async () => {
    // Anything still on its way to the console arrives first.
    await sleep(200);
    if (problems.length) throw new Error(`${problems.length} console problem(s)`);
  });

  return { sessionId, seatIds, liveSoldAfterPayMs: liveMs, csp };
}

check(
  'buyer',
  async ({ base, args, figures, log }) => {
    // The same array the steps are pushed to: the summary shows how far a failed run got.
    figures.steps = steps;
    // lib's parseArgs gives `true` for a bare --screenshots; as before, that saves nothing.
    const screenshotDir = typeof args.screenshots === 'string' ? resolve(args.screenshots) : null;
    try {
      // The run's own deadline, so that a hang fails with screenshots like any other failure.
      const result = await within(RUN_MS, run(base, screenshotDir), 'the whole run');
      const totalMs = steps.reduce((sum, s) => sum + s.ms, 0);
      return { totalMs, ...result, screenshots: screenshotDir || undefined };
    } catch (err) {
      // Screenshots first, while the pages are still open.
      const saved = await failureScreenshots();
      if (problems.length) log(`console problems:\n  ${problems.join('\n  ')}`);
      if (saved.length) log(`screenshots: ${saved.join(', ')}`);
      figures.problems = problems;
      throw err;
    } finally {
      await chromium?.close();
    }
  },
  { timeoutMs: CHECK_MS },
);
