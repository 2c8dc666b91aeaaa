// The live schema, as a client learns it by introspection, is the one in schema.graphql.
//
//   node tests/clients/schema.mjs http://127.0.0.1:PORT [--schema FILE]
//
// Runs graphql-js's standard introspection query over HTTP, prints the result as SDL
// (buildClientSchema, printSchema) and compares it with schema.graphql printed the same way
// (buildSchema, printSchema), line by line; the lines that differ are printed.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { buildClientSchema, buildSchema, getIntrospectionQuery, lexicographicSortSchema, printSchema } from 'graphql';

import { check, graphql } from './lib.mjs';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The lines of `a` and `b` that differ, as a unified-style diff with 2 lines of context. */
function diff(a, b, context = 2) {
  const x = a.split('\n');
  const y = b.split('\n');
  // Longest common subsequence, by dynamic programming over the (small) schema files.
  const n = x.length;
  const m = y.length;
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i -= 1) {
    for (let j = m - 1; j >= 0; j -= 1) {
      lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const ops = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) {
      ops.push([' ', x[i], i, j]);
      i += 1;
      j += 1;
    } else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      ops.push(['-', x[i], i, j]);
      i += 1;
    } else {
      ops.push(['+', y[j], i, j]);
      j += 1;
    }
  }
  // Show every change with `context` unchanged lines around it; "@@" where lines are skipped.
  const shown = new Set();
  ops.forEach((op, k) => {
    if (op[0] === ' ') return;
    for (let c = Math.max(0, k - context); c <= Math.min(ops.length - 1, k + context); c += 1) shown.add(c);
  });
  const out = [];
  let previous = -2;
  [...shown].sort((p, q) => p - q).forEach((k) => {
    if (k !== previous + 1) out.push(`@@ line ${ops[k][2] + 1} of schema.graphql, ${ops[k][3] + 1} of the live schema (both as graphql-js prints them)`);
    out.push(`${ops[k][0]}${ops[k][1]}`);
    previous = k;
  });
  return out.join('\n');
}

check('schema', async ({ base, args, log, fail, figures }) => {
  const { status, body, text } = await graphql(base, getIntrospectionQuery(), { timeoutMs: 20_000 });
  if (!body?.data || body.errors) fail(`the introspection query answered ${status}: ${text.slice(0, 500)}`);
  const live = buildClientSchema(body.data);
  const path = args.schema || join(REPO, 'schema.graphql');
  let file;
  try {
    file = buildSchema(readFileSync(path, 'utf8'));
  } catch (err) {
    fail(`${path} is not a valid schema (${err.message}): run \`cargo run -- schema > schema.graphql\``);
  }
  const liveSdl = printSchema(live);
  const fileSdl = printSchema(file);
  figures.types = Object.keys(live.getTypeMap()).filter((name) => !name.startsWith('__')).length;
  figures.lines = liveSdl.split('\n').length;
  figures.equalAsPrinted = liveSdl === fileSdl;
  const sortedLive = printSchema(lexicographicSortSchema(live));
  const sortedFile = printSchema(lexicographicSortSchema(file));
  figures.equalSorted = sortedLive === sortedFile;
  if (figures.equalAsPrinted) return;
  if (figures.equalSorted) {
    log('schema.graphql and the live schema have the same types and fields, in another order');
  }
  log(`--- schema.graphql\n+++ the live introspection of ${base}/graphql`);
  log(diff(fileSdl, liveSdl));
  fail('schema.graphql is not the schema the server serves: run `cargo run -- schema > schema.graphql`');
});
