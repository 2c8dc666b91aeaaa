// The files vendored for GraphiQL (api/web/graphiql/vendor/) are byte for byte the files of
// the packages pinned there, and the pins are exact.
//
//   node tests/clients/vendored.mjs [--node-modules DIR]
//
// Installs the pinned packages with `npm ci` (the lockfile's integrity hashes checked) into
// a temporary folder, and compares each vendored file with its origin; prints what differs.
// With --node-modules, compares against an installed node_modules instead (no network).
// To bring the copies back in line: cd api/web/graphiql/vendor && npm run vendor.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { FILES, HERE as VENDOR, OWN_FILES } from '../../api/web/graphiql/vendor/update.mjs';
import { check, within } from './lib.mjs';

const NPM_CI_TIMEOUT_MS = 150_000;

function sha256(bytes) {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

function npmCi(dir) {
  return new Promise((resolve, reject) => {
    execFile(
      'npm',
      ['ci', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'],
      { cwd: dir, timeout: NPM_CI_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => (err ? reject(new Error(`npm ci failed: ${stderr || err.message}`)) : resolve()),
    );
  });
}

check(
  'vendored',
  async ({ args, log, fail, figures }) => {
    const manifest = JSON.parse(readFileSync(join(VENDOR, 'package.json'), 'utf8'));
    const lock = JSON.parse(readFileSync(join(VENDOR, 'package-lock.json'), 'utf8'));
    const problems = [];

    // Exact pins, and a lockfile that agrees with them.
    const pins = manifest.dependencies || {};
    for (const [name, version] of Object.entries(pins)) {
      if (!/^\d+\.\d+\.\d+$/.test(version)) problems.push(`${name} is pinned as "${version}", not an exact version`);
      const locked = lock.packages?.[`node_modules/${name}`]?.version;
      if (locked !== version) problems.push(`package-lock.json has ${name}@${locked}, package.json pins ${version}`);
      if (lock.packages?.['']?.dependencies?.[name] !== version) {
        problems.push(`package-lock.json's root does not pin ${name}@${version}: run npm install in the vendor folder`);
      }
    }
    figures.pins = Object.entries(pins).map(([n, v]) => `${n}@${v}`);

    let modules = args['node-modules'];
    let temp = null;
    if (!modules) {
      temp = mkdtempSync(join(tmpdir(), 'curtain-vendored-'));
      copyFileSync(join(VENDOR, 'package.json'), join(temp, 'package.json'));
      copyFileSync(join(VENDOR, 'package-lock.json'), join(temp, 'package-lock.json'));
      log(`npm ci in ${temp} …`);
      await within(NPM_CI_TIMEOUT_MS + 5_000, npmCi(temp), 'npm ci');
      modules = join(temp, 'node_modules');
    }
    try {
      for (const [name, version] of Object.entries(pins)) {
        const installed = JSON.parse(readFileSync(join(modules, name, 'package.json'), 'utf8')).version;
        if (installed !== version) problems.push(`node_modules has ${name}@${installed}, not ${version}`);
      }
      let identical = 0;
      const differing = [];
      for (const { file, from } of FILES) {
        const vendored = join(VENDOR, file);
        const origin = join(modules, from);
        if (!existsSync(vendored)) {
          differing.push(file);
          problems.push(`${file} is missing (from ${from})`);
          continue;
        }
        const a = readFileSync(vendored);
        const b = readFileSync(origin);
        if (a.equals(b)) {
          identical += 1;
        } else {
          differing.push(file);
          problems.push(
            `${file} differs from ${from}: ${a.length} bytes sha256 ${sha256(a)}… vendored, ${b.length} bytes sha256 ${sha256(b)}… in the package`,
          );
        }
      }
      const known = new Set([...FILES.map((f) => f.file), ...OWN_FILES, 'node_modules']);
      const extra = readdirSync(VENDOR).filter((name) => !known.has(name));
      for (const name of extra) problems.push(`${name} is in the vendor folder but comes from no pinned package`);
      Object.assign(figures, { files: FILES.length, identical, differing, extra });
    } finally {
      if (temp) rmSync(temp, { recursive: true, force: true });
    }
    if (problems.length) {
      for (const problem of problems) log(`- ${problem}`);
      fail(`${problems.length} problem(s) with the vendored files; run \`npm run vendor\` in api/web/graphiql/vendor`);
    }
  },
  { timeoutMs: NPM_CI_TIMEOUT_MS + 30_000, needsBase: false },
);
