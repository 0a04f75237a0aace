#!/usr/bin/env bash
# Reviews the routing policies of a pull request: every routec command the
# workflow `route-review.yml` runs is here, so that the same steps run on
# GitHub and locally (crates/routec/tests/ci_example.rs runs this script in a
# temporary git repository).
#
# Environment:
#   ROUTEC     the routec binary (default: `routec` on PATH)
#   BASE_REF   the git revision to diff against (default: origin/main)
#   POLICIES   the policy files, separated by spaces (default: every tracked
#              `*.route` file outside `tests/` directories)
#   OUT_DIR    where the reports go (default: routec-review)
#
# Writes, in OUT_DIR:
#   routec.sarif   `routec check --format sarif` of every policy (for code scanning)
#   test.txt       `routec test` of every policy
#   tables/        the compiled table of each policy (`NAME.table.json`)
#   comment.md     the pull-request comment: the test summary and one
#                  `routec diff --format markdown BASE:FILE FILE` per policy
#                  changed since BASE_REF, starting with the marker line
#                  `<!-- routec-review -->` (the workflow updates the comment
#                  that carries it instead of adding a new one)
#
# Exits with 1 when a policy has errors, a test fails or a policy does not
# compile, after writing every report; with 2 on usage errors.
set -u -o pipefail

ROUTEC="${ROUTEC:-routec}"
BASE_REF="${BASE_REF:-origin/main}"
OUT_DIR="${OUT_DIR:-routec-review}"
if [ -z "${POLICIES:-}" ]; then
  POLICIES="$(git ls-files '*.route' | grep -v -E '(^|/)tests/' | tr '\n' ' ')"
fi
read -r -a files <<< "$POLICIES"
if [ "${#files[@]}" -eq 0 ]; then
  echo "review.sh: no policies to review (set POLICIES)" >&2
  exit 2
fi

mkdir -p "$OUT_DIR/tables"
status=0

# 1. Diagnostics as SARIF (uploaded for code scanning even when there are errors).
"$ROUTEC" check --format sarif "${files[@]}" > "$OUT_DIR/routec.sarif" || status=1

# 2. The policies' own tests.
"$ROUTEC" test "${files[@]}" > "$OUT_DIR/test.txt" 2>&1 || status=1

# 3. The decision tables.
for f in "${files[@]}"; do
  name="$(basename "$f" .route)"
  "$ROUTEC" compile "$f" -o "$OUT_DIR/tables/$name.table.json" || status=1
done

# 4. The behavioral diff of each changed policy against the base branch.
comment="$OUT_DIR/comment.md"
{
  echo "<!-- routec-review -->"
  echo "## Routing policy review"
  echo
  echo "\`routec test\`: $(tail -n 1 "$OUT_DIR/test.txt")"
  echo
} > "$comment"
changed=0
for f in "${files[@]}"; do
  if ! git cat-file -e "$BASE_REF:$f" 2>/dev/null; then
    printf 'New policy `%s` (not in `%s`).\n\n' "$f" "$BASE_REF" >> "$comment"
    continue
  fi
  if git diff --quiet "$BASE_REF" -- "$f"; then
    continue
  fi
  changed=$((changed + 1))
  if ! "$ROUTEC" diff --format markdown "$BASE_REF:$f" "$f" >> "$comment" 2> "$OUT_DIR/diff-errors.txt"; then
    printf '`routec diff` could not compare `%s` with `%s`:\n\n```\n%s\n```\n\n' \
      "$f" "$BASE_REF" "$(cat "$OUT_DIR/diff-errors.txt")" >> "$comment"
    status=1
  fi
  echo >> "$comment"
done
if [ "$changed" -eq 0 ]; then
  echo "No policy changed since \`$BASE_REF\`." >> "$comment"
fi
exit "$status"
