#!/usr/bin/env bash
# The full test suite: set-up when needed, type check, lint and format, then every test (real
# mounts, kernel overlayfs as the oracle). Ends with the line "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ] || ! dpkg-query -W libfuse2 >/dev/null 2>&1; then
  bash scripts/setup.sh --no-example || exit 1
else
  npm run --silent build || exit 1
fi
status=0
echo "test: type check"; npx tsc -p tsconfig.test.json || status=1
echo "test: lint and format"; npx eslint . && npx prettier --check . >/dev/null || { npx prettier --check . ; status=1; }
echo "test: vitest"
report=$(mktemp)
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" || status=1
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  // A suite that fails to load has no failed test: count it, so the line never says 0 by mistake.
  const failed = r.numFailedTests || (r.success ? 0 : Math.max(r.numFailedTestSuites, 1));
  console.log(`${r.numPassedTests} passed, ${failed} failed`);
' "$report" || { echo "0 passed, 1 failed"; status=1; }
rm -f "$report"
exit $status
