#!/usr/bin/env bash
# Times codetable against jscpd 5 and bare tree-sitter parsing on the Linux kernel, in one
# run, and prints a markdown table of medians (wall seconds, peak RSS) and ratios.
#
#   bash benches/kernel.sh [fs|full] [runs]
#
# fs (default): the kernel's fs/ directory; full: the whole tree (jscpd is left out unless
# JSCPD_FULL=1: it needs more than 14 GB there). The corpus is Debian's linux-source-6.1
# (apt-get download), jscpd is 5.3.3 from npm; both are cached in $CODETABLE_CORPORA
# (default target/corpora). Settings: codetable defaults; jscpd in its fair tuned mode
# (--mode weak --ignore-identifiers --ignore-literals) at the same minimum size (50 tokens,
# 5 lines); bare-parse parses the same files with tree-sitter and drops the trees.
set -euo pipefail
cd "$(dirname "$0")/.."
scope=${1:-fs}
runs=${2:-3}
corpora=$(realpath -m "${CODETABLE_CORPORA:-target/corpora}")
mkdir -p "$corpora"

command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time; }
if [ ! -d "$corpora/linux" ]; then
  (cd "$corpora" && apt-get download linux-source-6.1 && dpkg -x linux-source-6.1_*.deb pkg)
  mkdir -p "$corpora/linux"
  tar -xf "$corpora"/pkg/usr/src/linux-source-*.tar.xz -C "$corpora/linux" --strip-components=1
  rm -rf "$corpora/pkg" "$corpora"/linux-source-6.1_*.deb
fi
if [ ! -x "$corpora/jscpd/node_modules/.bin/jscpd" ]; then
  mkdir -p "$corpora/jscpd"
  (cd "$corpora/jscpd" && npm install --no-audit --no-fund jscpd@5.3.3 >/dev/null)
fi
cargo build --release --locked -p codetable-cli -p codetable-benches

case "$scope" in
  fs) target="$corpora/linux/fs" ;;
  full) target="$corpora/linux" ;;
  *) echo "scope must be fs or full" >&2; exit 2 ;;
esac
tools=(bare codetable jscpd)
[ "$scope" = full ] && [ "${JSCPD_FULL:-0}" != 1 ] && tools=(bare codetable)

out=$(mktemp -d)
run() {
  case "$1" in
    bare) ./target/release/bare-parse "$target" ;;
    codetable) ./target/release/codetable analyze "$target" --format json -o "$out/codetable.json" ;;
    jscpd) "$corpora/jscpd/node_modules/.bin/jscpd" --mode weak --ignore-identifiers \
             --ignore-literals --min-tokens 50 --min-lines 5 --reporters json \
             --output "$out/jscpd" "$target" ;;
  esac
}
for i in $(seq "$runs"); do
  for tool in "${tools[@]}"; do
    /usr/bin/time -f "%e %M" -o "$out/$tool.$i" bash -c "$(declare -f run); target='$target' out='$out' corpora='$corpora' run $tool" >/dev/null 2>&1 \
      || echo "$tool run $i failed" >&2
  done
done

python3 - "$out" "$runs" "$scope" "${tools[@]}" <<'PY'
import json, os, statistics, sys
out, runs, scope, tools = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
med = {}
for t in tools:
    rows = [open(f"{out}/{t}.{i}").read().split()[-2:] for i in range(1, runs + 1) if os.path.exists(f"{out}/{t}.{i}")]
    wall = statistics.median(float(r[0]) for r in rows)
    rss = statistics.median(int(r[1]) for r in rows) / 1024
    med[t] = (wall, rss)
s = json.load(open(f"{out}/codetable.json"))["stats"]
print(f"scope {scope}: {s['files']} files, {s['lines']} lines, {s['bytes']/1e6:.0f} MB; median of {runs} runs")
print("| tool | wall s | peak MiB | wall / codetable | peak / codetable |")
print("|---|---|---|---|---|")
for t in tools:
    w, m = med[t]
    print(f"| {t} | {w:.2f} | {m:.0f} | {w/med['codetable'][0]:.2f} | {m/med['codetable'][1]:.2f} |")
if "jscpd" in med:
    print(f"codetable/jscpd wall {med['codetable'][0]/med['jscpd'][0]:.2f}, memory {med['codetable'][1]/med['jscpd'][1]:.3f}")
print(f"codetable/bare-parse wall {med['codetable'][0]/med['bare'][0]:.2f}")
print("codetable stages (last run, ms):", s["timings_ms"])
PY
rm -rf "$out"
