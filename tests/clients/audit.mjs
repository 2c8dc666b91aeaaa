// The GraphQL-over-HTTP audit of graphql-http (the spec's reference audit) against /graphql,
// and a mutation over GET, which the spec says must get 405 Method Not Allowed.
//
//   node tests/clients/audit.mjs http://127.0.0.1:PORT
//
// Fails unless the audit has no error and no warning (notices are listed, not failed).

import { auditServer } from 'graphql-http';

import { check, within } from './lib.mjs';

check('audit', async ({ base, log, fail, figures }) => {
  const results = await within(30_000, auditServer({ url: `${base}/graphql` }), 'graphql-http auditServer');
  const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
  // Figures: passed (status ok), notice, warn, error.
  const notOk = [];
  for (const result of results) {
    counts[result.status] += 1;
    if (result.status !== 'ok') {
      let body = '';
      try {
        body = (await result.response.clone().text()).slice(0, 300);
      } catch {
        body = '';
      }
      notOk.push({
        id: result.id,
        status: result.status,
        name: result.name,
        reason: result.reason,
        httpStatus: result.response?.status,
        body,
      });
    }
  }
  Object.assign(figures, {
    audits: results.length,
    passed: counts.ok,
    notice: counts.notice,
    warn: counts.warn,
    error: counts.error,
    notOk: notOk.map((r) => `${r.status}:${r.id}`),
  });
  for (const r of notOk) {
    log(`${r.status.toUpperCase()} ${r.id} ${r.name}\n  reason: ${r.reason}\n  response: ${r.httpStatus} ${r.body}`);
  }

  // A mutation over GET: 405, with Allow naming POST (GraphQL over HTTP, "GET").
  const url = new URL(`${base}/graphql`);
  url.searchParams.set('query', 'mutation { logOut(refreshToken: "x") }');
  const get = await fetch(url, {
    headers: { accept: 'application/graphql-response+json' },
    signal: AbortSignal.timeout(10_000),
  });
  const allow = get.headers.get('allow');
  figures.mutationOverGet = get.status;
  figures.mutationOverGetAllow = allow;
  log(`mutation over GET: ${get.status}, Allow: ${allow}`);

  const problems = [];
  if (counts.error > 0 || counts.warn > 0) {
    problems.push(`the audit has ${counts.error} error(s) and ${counts.warn} warning(s): ${figures.notOk.join(', ')}`);
  }
  if (get.status !== 405) problems.push(`a mutation over GET got ${get.status}, not 405`);
  if (problems.length) fail(problems.join('; '));
});
