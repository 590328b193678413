#!/usr/bin/env bash
# Gathers real code in five languages for the recall test (crates/codetable/tests/recall.rs)
# from what this machine already has: Rust and C from the crates this workspace builds with
# (cargo's registry: regex, rayon, clap, ignore, the tree-sitter runtime and grammar
# scanners), Python from the interpreter's standard library, JavaScript from npm's own
# sources, Java from the JDK's src.zip. Nothing is committed; the versions are pinned by
# Cargo.lock and the machine image.
set -euo pipefail
out=${1:-target/recall-corpus}
rm -rf "$out.tmp" && mkdir -p "$out.tmp"/{rust,c,python,javascript,java}

registry=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/ | head -n 1)
crate() { ls -d "$registry"/"$1"-[0-9]* | sort -V | tail -n 1; }
for name in regex-automata regex-syntax rayon-core clap_builder ignore globset; do
  dir=$(crate "$name")
  mkdir -p "$out.tmp/rust/$name"
  (cd "$dir/src" && find . -name '*.rs' -size -300k | sort | tar -cf - -T -) | tar -xf - -C "$out.tmp/rust/$name"
done
ts=$(crate tree-sitter)
mkdir -p "$out.tmp/c/runtime"
cp "$ts"/src/*.c "$ts"/src/*.h "$out.tmp/c/runtime/" 2>/dev/null || true
for g in tree-sitter-python tree-sitter-cpp tree-sitter-ruby tree-sitter-php tree-sitter-swift tree-sitter-scala; do
  d=$(crate "$g")
  find "$d" -name scanner.c | head -n 1 | xargs -I{} cp {} "$out.tmp/c/$g-scanner.c"
done

stdlib=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
(cd "$stdlib" && ls argparse.py ast.py calendar.py csv.py difflib.py ftplib.py gettext.py \
   imaplib.py inspect.py mailbox.py pathlib.py pickle.py pydoc.py shutil.py smtplib.py \
   subprocess.py tarfile.py textwrap.py zipfile.py json/*.py email/*.py http/*.py \
   | tar -cf - -T -) | tar -xf - -C "$out.tmp/python"

npm_root=$(npm root -g 2>/dev/null)/npm
(cd "$npm_root" && find lib node_modules/@npmcli node_modules/semver node_modules/pacote \
   -name '*.js' -size -200k 2>/dev/null | sort | head -n 400 | tar -cf - -T -) | tar -xf - -C "$out.tmp/javascript"

srczip=$(ls /usr/lib/jvm/*/lib/src.zip 2>/dev/null | while read -r z; do [ -s "$z" ] && echo "$z"; done | head -n 1 || true)
if [ -z "$srczip" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-source >/dev/null
  srczip=$(ls /usr/lib/jvm/*/lib/src.zip | while read -r z; do [ -s "$z" ] && echo "$z"; done | head -n 1)
fi
(cd "$out.tmp/java" && unzip -q "$srczip" 'java.base/java/util/[A-Z]*.java' 'java.base/java/util/regex/*.java' 'java.base/java/text/[A-Z]*.java')

for lang in rust c python javascript java; do
  n=$(find "$out.tmp/$lang" -type f | wc -l)
  [ "$n" -gt 10 ] || { echo "recall-corpus: only $n $lang files found" >&2; exit 1; }
done
rm -rf "$out" && mv "$out.tmp" "$out"
echo "recall corpus ready in $out"
