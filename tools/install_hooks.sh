#!/usr/bin/env bash
# Install a git pre-commit hook that refuses commits whose notebooks are not clean (nbdev_clean) or whose
# package is out of sync with nbs/ (nbdev_export). Idempotent; a no-op outside a git checkout.
set -eu
cd "$(dirname "$0")/.."
git rev-parse --git-dir >/dev/null 2>&1 || exit 0
hook="$(git rev-parse --git-path hooks)/pre-commit"
mkdir -p "$(dirname "$hook")"
cat > "$hook" <<'HOOK'
#!/usr/bin/env bash
# ftkit pre-commit hook (written by tools/install_hooks.sh): clean notebooks, keep ftkit/ in sync with nbs/.
set -e
bin=.venv/bin
[ -x $bin/nbdev_clean ] || exit 0
staged=$(git diff --cached --name-only --diff-filter=ACM -- 'nbs/*.ipynb' 'nbs/**/*.ipynb')
[ -n "$staged" ] || exit 0
for nb in $staged; do $bin/nbdev_clean --fname "$nb"; done
$bin/nbdev_export
if ! git diff --quiet -- $staged ftkit; then
  echo "pre-commit: nbdev_clean/nbdev_export changed files; review them, 'git add' and commit again:"
  git diff --stat -- $staged ftkit
  exit 1
fi
HOOK
chmod +x "$hook"
