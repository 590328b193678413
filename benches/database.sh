#!/usr/bin/env bash
# Pattern-database benchmark on one tree: cold runs without and with the database
# (interleaved), unchanged re-runs, one-file edits (a function appended to EDIT, which is
# restored at the end), then `db stats`. Prints every run and the medians.
#
#   benches/database.sh BIN TREE EDIT [REPS]
#
# BIN is a codetable binary, TREE the directory, EDIT a C file in it. The database goes to
# a temporary directory. Runs use the default text output, as a user's re-run would.
set -euo pipefail
BIN=$1; TREE=$2; EDIT=$3; REPS=${4:-3}
DB=$(mktemp -d)/db
SAVED=$(mktemp)
# A real file, not /dev/null: older builds renamed their report over the --output path.
OUT=$(mktemp)
cp -p "$EDIT" "$SAVED"
trap 'cp -p "$SAVED" "$EDIT"; rm -rf "$(dirname "$DB")" "$SAVED" "$OUT"' EXIT
declare -A times
run() { # label, args...
  local label=$1; shift
  local out
  out=$( { /usr/bin/time -f "%e %M" "$BIN" analyze "$TREE" -o "$OUT" "$@" ; } 2>&1 | tail -1)
  echo "$label: ${out% *} s, $(( ${out#* } / 1024 )) MiB"
  times[$label]+="${out% *} "
}
for r in $(seq "$REPS"); do
  run "cold, no database" --no-db
  rm -rf "$DB"
  run "cold, with database" --db "$DB"
done
for r in $(seq "$REPS"); do run "unchanged re-run" --db "$DB"; done
for r in $(seq "$REPS"); do
  printf '\nstatic int codetable_bench_%s_%s(int a, int b)\n{\n\tint x = a + b;\n\tif (x > 10)\n\t\treturn x * 2;\n\treturn x;\n}\n' "$r" "$RANDOM" >> "$EDIT"
  run "one-file edit" --db "$DB"
done
"$BIN" db stats --db "$DB"
echo "medians:"
for label in "cold, no database" "cold, with database" "unchanged re-run" "one-file edit"; do
  median=$(echo ${times[$label]} | tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "  $label: $median s"
done
