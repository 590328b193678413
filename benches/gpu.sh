#!/usr/bin/env bash
# The GPU figures of benches/README.md in one command per machine:
#
#   bash benches/gpu.sh prepare   # here (x86-64, with cargo): builds and packs .device/
#   bash benches/gpu.sh run       # there, on the GPU machine, with .device/ beside the repo
#
# `prepare` builds the release CLI, the query-latency tool and the matching bench, strips
# them and packs them with the corpora (the kernel's fs/, and the recall corpus the bench
# reads) and Debian's Vulkan loader into .device/ (about 40 MiB, ignored by git), for
# machines that have no Rust, no network and maybe no loader (the device tool: carry
# [".device"]). `run` then times, on whatever GPU the Vulkan loader finds:
#   - `analyze fs/` with each backend (cpu, gpu) and strategy (lsh, exhaustive): wall
#     time, match time, candidates, verified pairs; the GPU and CPU reports must agree;
#   - the criterion bench of near-miss matching at 10 k, 100 k and 1 M fragments;
#   - query latency against fs/ indexed, exhaustive on the GPU and the CPU, and LSH.
# Set CODETABLE_ALLOW_SOFTWARE_GPU=1 to run it on a software device, and SCOPE to a part
# of fs/ (SCOPE=fs/ext2) to keep such a rehearsal short; QUERIES sets the queries (500)
# and BENCH_FILTER picks criterion benchmarks (a regex: '/1\d{4}$' for 10 k only).
set -euo pipefail
cd "$(dirname "$0")/.."
pack=.device
corpora=$(realpath -m "${CODETABLE_CORPORA:-target/corpora}")

prepare() {
  cargo build --release --locked --bin codetable
  cargo build --release --locked -p codetable-benches --bin query-latency
  cargo bench --no-run --locked -p codetable-benches --bench matching 2>&1 |
    tee /tmp/gpu-bench-build.log
  bench=$(grep -o 'target/release/deps/matching-[0-9a-f]*' /tmp/gpu-bench-build.log | tail -1)
  [ -x "$bench" ] || { echo "the matching bench was not built" >&2; exit 1; }
  if [ ! -d "$corpora/linux/fs" ]; then # Debian's kernel source, as benches/kernel.sh
    mkdir -p "$corpora/linux"
    (cd "$corpora" && apt-get download linux-source-6.1 && dpkg -x linux-source-6.1_*.deb pkg)
    tar -xf "$corpora"/pkg/usr/src/linux-source-*.tar.xz -C "$corpora/linux" --strip-components=1
    rm -rf "$corpora/pkg" "$corpora"/linux-source-6.1_*.deb
  fi
  [ -d target/recall-corpus ] || bash scripts/recall-corpus.sh target/recall-corpus
  rm -rf "$pack" && mkdir -p "$pack/bin"
  grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >>.git/info/exclude
  cp target/release/codetable target/release/query-latency "$pack/bin/"
  cp "$bench" "$pack/bin/matching-bench"
  strip "$pack"/bin/*
  tar -cJf "$pack/bin.tar.xz" -C "$pack" bin && rm -rf "$pack/bin"
  tar -cJf "$pack/fs.tar.xz" -C "$corpora/linux" fs
  tar -cJf "$pack/recall.tar.xz" -C target recall-corpus
  (cd "$pack" && apt-get download libvulkan1 >/dev/null)
  du -sh "$pack"
}

run() {
  [ -f "$pack/bin.tar.xz" ] || { echo "run 'bash benches/gpu.sh prepare' first" >&2; exit 1; }
  if ! ldconfig -p | grep -q 'libvulkan\.so\.1'; then
    for f in "$pack"/*.deb; do dpkg -x "$f" /; done
    ldconfig
  fi
  nvidia=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  [ -f "$nvidia" ] && export VK_DRIVER_FILES=$nvidia
  work=$(mktemp -d)
  tar -xJf "$pack/bin.tar.xz" -C "$work"
  tar -xJf "$pack/fs.tar.xz" -C "$work"
  tar -xJf "$pack/recall.tar.xz" -C "$work"
  bin=$work/bin
  tree=$work/${SCOPE:-fs}
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv
  echo "| backend | candidates | wall s | match ms | candidates | verified pairs | families |"
  echo "|---|---|---|---|---|---|---|"
  for strategy in lsh exhaustive; do
    for backend in cpu gpu; do
      start=$(date +%s.%N)
      "$bin/codetable" analyze "$tree" --no-db --format json --backend "$backend" \
        --candidates "$strategy" -o "$work/$backend-$strategy.json"
      end=$(date +%s.%N)
      python3 - "$work/$backend-$strategy.json" "$backend" "$strategy" "$start" "$end" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); s = r["stats"]
print(f"| {sys.argv[2]} ({s['backend'].get('adapter', 'cpu')}) | {sys.argv[3]} | "
      f"{float(sys.argv[5]) - float(sys.argv[4]):.2f} | {s['timings_ms']['match']:.0f} | "
      f"{s['work']['candidate_pairs']} | {s['verified_pairs']} | {s['families']} |")
PY
    done
    python3 - "$work/cpu-$strategy.json" "$work/gpu-$strategy.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
for r in (a, b):
    for k in ("timings_ms", "backend", "work"):
        r["stats"].pop(k)
print("GPU and CPU reports agree" if a == b else "GPU AND CPU REPORTS DIFFER")
PY
  done
  CODETABLE_RECALL_CORPUS=$work/recall-corpus "$bin/matching-bench" --bench \
    --warm-up-time 1 --measurement-time 10 ${BENCH_FILTER:+"$BENCH_FILTER"} 2>&1 |
    grep -E '^near-miss|time:|thrpt:' | grep -v '%'
  "$bin/codetable" index "$tree" --db "$work/db" --name fs >/dev/null
  for args in "lsh cpu" "exhaustive cpu" "exhaustive gpu"; do
    echo "query latency, $args:"
    # shellcheck disable=SC2086
    "$bin/query-latency" "$work/db" "$tree" "${QUERIES:-500}" $args
  done
  rm -rf "$work"
}

case "${1:-}" in
  prepare) prepare ;;
  run) run ;;
  *) echo "usage: bash benches/gpu.sh prepare|run" >&2; exit 2 ;;
esac
