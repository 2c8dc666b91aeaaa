// Copies the browser builds that /graphiql loads out of node_modules, next to this script.
//
//   cd api/web/graphiql/vendor && npm run vendor     # npm ci, then this script
//
// To move to new versions: change the exact versions in package.json, run `npm install
// --ignore-scripts` here (it rewrites package-lock.json), then `node update.mjs`, and check
// /graphiql in a browser (tests/clients/graphiql.mjs). tests/clients/vendored.mjs checks
// that the committed copies are byte for byte the pinned packages' files.

import { copyFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Each vendored file: its name here and where it comes from, under node_modules. */
export const FILES = [
  { file: 'react.production.min.js', from: 'react/umd/react.production.min.js' },
  { file: 'LICENSE.react', from: 'react/LICENSE' },
  { file: 'react-dom.production.min.js', from: 'react-dom/umd/react-dom.production.min.js' },
  { file: 'LICENSE.react-dom', from: 'react-dom/LICENSE' },
  { file: 'graphiql.min.js', from: 'graphiql/graphiql.min.js' },
  { file: 'graphiql.min.css', from: 'graphiql/graphiql.min.css' },
  { file: 'LICENSE.graphiql', from: 'graphiql/LICENSE' },
  { file: 'graphql-ws.min.js', from: 'graphql-ws/umd/graphql-ws.min.js' },
  { file: 'LICENSE.graphql-ws.md', from: 'graphql-ws/LICENSE.md' },
];

/** The files of this folder that are not copies (and are not checked against packages). */
export const OWN_FILES = ['package.json', 'package-lock.json', 'update.mjs', 'README.md'];

export const HERE = dirname(fileURLToPath(import.meta.url));

function main() {
  const modules = join(HERE, 'node_modules');
  if (!existsSync(modules)) {
    console.error('no node_modules here: run `npm ci --ignore-scripts` first (or `npm run vendor`)');
    process.exit(1);
  }
  for (const { file, from } of FILES) {
    copyFileSync(join(modules, from), join(HERE, file));
    console.log(`${from} -> ${file}`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
