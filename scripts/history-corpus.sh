#!/usr/bin/env bash
# Downloads two releases (one to three years apart) of real libraries in five languages for
# the history recall test (crates/codetable/tests/history.rs): the same functions as they
# were and as they became. Each library is laid out as out/<lang>/<lib>/old/... and
# out/<lang>/<lib>/new/... with the library's own relative paths, so files pair by path.
# Sources: crates.io (Rust, and C bundled by -sys crates), PyPI sdists (Python), the npm
# registry (JavaScript, and Java shipped by React Native and Cordova/Capacitor packages).
# Versions are pinned; a failed download fails the script. Nothing is committed.
set -euo pipefail
out=${1:-target/history-corpus}
rm -rf "$out.tmp" && mkdir -p "$out.tmp/dl"
dl=$(cd "$out.tmp/dl" && pwd)

fail() { echo "history-corpus: $*" >&2; exit 1; }

# fetch URL FILE: downloads once into the download folder.
fetch() {
  [ -s "$dl/$2" ] && return 0
  curl -fsSL --retry 3 -o "$dl/$2.part" "$1" || fail "download failed: $1"
  mv "$dl/$2.part" "$dl/$2"
}
crate() { fetch "https://static.crates.io/crates/$1/$1-$2.crate" "$1-$2.crate"; echo "$dl/$1-$2.crate"; }
pypi() {
  local url
  url=$(curl -fsSL --retry 3 "https://pypi.org/pypi/$1/json" | python3 -c '
import json, sys, urllib.parse
d = json.load(sys.stdin)
url = next(u["url"] for u in d["releases"][sys.argv[1]] if u["packagetype"] == "sdist")
print(urllib.parse.urljoin(sys.argv[2], url))' "$2" "https://pypi.org/pypi/$1/json") \
    || fail "no sdist of $1 $2 on PyPI"
  fetch "$url" "$1-$2.tar.gz"
  echo "$dl/$1-$2.tar.gz"
}
npmpkg() {
  local file
  file=$(cd "$dl" && npm pack "$1@$2" --silent 2>/dev/null | tail -n 1) || fail "npm pack $1@$2 failed"
  [ -s "$dl/$file" ] || fail "npm pack $1@$2 wrote nothing"
  echo "$dl/$file"
}

# take ARCHIVE DEST EXT PATTERN...: extracts the archive's files whose path (without the
# archive's top folder) is under one of the patterns' folders and ends in one of the
# extensions in EXT ("rs" or "c|h"), keeping their relative paths, into DEST.
take() {
  local archive=$1 dest=$2 ext=$3
  shift 3
  local tmp
  tmp=$(mktemp -d)
  tar -xzf "$archive" -C "$tmp" --strip-components=1 || fail "cannot unpack $archive"
  mkdir -p "$dest"
  local prefix
  for prefix in "$@"; do
    [ -e "$tmp/$prefix" ] || fail "$archive has no $prefix"
    (cd "$tmp" && find "$prefix" -type f -size -400k | grep -E "\.($ext)\$" | sort | tar -cf - -T -) \
      | tar -xf - -C "$dest"
  done
  rm -rf "$tmp"
}

# pair LANG LIB EXT OLD_ARCHIVE NEW_ARCHIVE PREFIX...
pair() {
  local lang=$1 lib=$2 ext=$3 old=$4 new=$5
  shift 5
  take "$old" "$out.tmp/$lang/$lib/old" "$ext" "$@"
  take "$new" "$out.tmp/$lang/$lib/new" "$ext" "$@"
}

# Python sdists moved packages between ./pkg and ./src/pkg: normalise to ./pkg.
pair_py() {
  local lib=$1 old=$2 new=$3
  shift 3
  local side archive tmp prefix
  for side in old new; do
    archive=$old
    [ "$side" = new ] && archive=$new
    tmp=$(mktemp -d)
    tar -xzf "$archive" -C "$tmp" --strip-components=1 || fail "cannot unpack $archive"
    [ -d "$tmp/src" ] && cp -r "$tmp"/src/* "$tmp"/
    mkdir -p "$out.tmp/python/$lib/$side"
    for prefix in "$@"; do
      [ -e "$tmp/$prefix" ] || fail "$archive has no $prefix"
      (cd "$tmp" && find "$prefix" -type f -name '*.py' -size -400k | sort | tar -cf - -T -) \
        | tar -xf - -C "$out.tmp/python/$lib/$side"
    done
    rm -rf "$tmp"
  done
}

start=$(date +%s)

# Rust
pair rust tokio rs "$(crate tokio 1.20.0)" "$(crate tokio 1.40.0)" src
pair rust serde_json rs "$(crate serde_json 1.0.80)" "$(crate serde_json 1.0.128)" src
pair rust syn rs "$(crate syn 2.0.0)" "$(crate syn 2.0.87)" src
pair rust clap_builder rs "$(crate clap_builder 4.1.14)" "$(crate clap_builder 4.5.20)" src
pair rust regex-automata rs "$(crate regex-automata 0.3.0)" "$(crate regex-automata 0.4.9)" src

# C (bundled by -sys crates)
pair c zlib 'c|h' "$(crate libz-sys 1.1.3)" "$(crate libz-sys 1.1.20)" src/zlib
pair c zstd 'c|h' "$(crate zstd-sys 2.0.1+zstd.1.5.2)" "$(crate zstd-sys 2.0.13+zstd.1.5.6)" zstd/lib
pair c libgit2 'c|h' "$(crate libgit2-sys 0.14.0+1.5.0)" "$(crate libgit2-sys 0.17.0+1.8.1)" libgit2/src
pair c tree-sitter 'c|h' "$(crate tree-sitter 0.20.10)" "$(crate tree-sitter 0.22.6)" src

# Python
pair_py requests "$(pypi requests 2.25.1)" "$(pypi requests 2.32.3)" requests
pair_py flask "$(pypi flask 2.0.0)" "$(pypi flask 3.0.3)" flask
pair_py click "$(pypi click 8.0.0)" "$(pypi click 8.1.7)" click
pair_py werkzeug "$(pypi werkzeug 2.0.0)" "$(pypi werkzeug 3.0.4)" werkzeug
pair_py django "$(pypi django 4.0)" "$(pypi django 5.0)" \
  django/db django/forms django/utils django/template django/core django/http

# JavaScript
pair javascript express js "$(npmpkg express 4.17.1)" "$(npmpkg express 5.0.1)" lib
pair javascript moment js "$(npmpkg moment 2.24.0)" "$(npmpkg moment 2.30.1)" src/lib
pair javascript webpack js "$(npmpkg webpack 5.70.0)" "$(npmpkg webpack 5.95.0)" lib
pair javascript eslint js "$(npmpkg eslint 8.0.0)" "$(npmpkg eslint 8.57.0)" lib
pair javascript three js "$(npmpkg three 0.150.0)" "$(npmpkg three 0.170.0)" src

# Java
pair java react-native java "$(npmpkg react-native 0.64.0)" "$(npmpkg react-native 0.71.0)" \
  ReactAndroid/src/main/java
pair java cordova-android java "$(npmpkg cordova-android 9.0.0)" "$(npmpkg cordova-android 12.0.1)" \
  framework/src
pair java capacitor-android java "$(npmpkg @capacitor/android 3.0.0)" "$(npmpkg @capacitor/android 6.0.0)" \
  capacitor/src/main/java
pair java react-native-svg java "$(npmpkg react-native-svg 12.1.0)" "$(npmpkg react-native-svg 13.14.0)" \
  android/src/main/java

downloaded=$(du -sm "$dl" | cut -f1)
rm -rf "$dl"
for lang in rust c python javascript java; do
  n=$(find "$out.tmp/$lang" -path '*/new/*' -type f | wc -l)
  [ "$n" -gt 20 ] || fail "only $n $lang files"
done
rm -rf "$out" && mv "$out.tmp" "$out"
echo "history corpus ready in $out (${downloaded} MB downloaded in $(($(date +%s) - start)) s)"
