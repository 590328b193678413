#!/usr/bin/env python3
"""Independent precision check for codetable's near-miss (T3) families.

Usage:
    precision.py REPORT.json ROOT [--json OUT] [--sample-out FILE]
                 [--sample-size N] [--seed N] [--threshold 0.5] [--worst 20]
                 [--jobs 2]

Needs `pygments` (e.g. /work/corpora/venv/bin/python precision.py ...).

What is measured
----------------
* Families: every family of the codetable JSON report with clone_type "T3".
* Pairs: within a family, every instance k >= 1 is paired with the family's
  representative (`representative`, schema 2; instances[0] before).  A family with n
  instances gives n-1 pairs.
  (Not all n*(n-1)/2 pairs: this keeps big families from dominating and
  matches "is each member a copy of the family's representative".)
* Tokens: each source file is lexed once, whole, with pygments
  (`get_lexer_for_filename`; the tokenizer is independent of codetable) and
  the tokens whose first character lies on lines start_line..end_line
  (1-based, inclusive) form the span.  Lexing the whole file rather than the
  cut-out span avoids mis-lexing a span that starts inside a string/comment.
  - comments and whitespace are dropped;
  - any Name.* token becomes `ID`;
  - any Literal.* token (strings, numbers, ...) becomes `LIT`, and runs of
    consecutive LIT tokens are merged into one (pygments splits one string
    into quote / body / escape / quote tokens);
  - keywords, operators, punctuation keep their text;
  - C preprocessor lines: pygments returns a `#define` / `#if` body as one
    opaque Comment.Preproc token; the directive word is kept and the rest of
    the line (and backslash-continued lines) is lexed again with the same
    lexer, so macro bodies are compared token by token.  `#include <x>` file
    names become LIT.  Other comment types are dropped.
* Score: difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() on the
  two abstract token lists (2*matches/(len a + len b)).  A pair is "clearly
  dissimilar" when ratio < --threshold (0.5).  real_quick_ratio() and
  quick_ratio() are upper bounds of ratio(); they are only used to label a
  pair as dissimilar without the exact computation when --bounds is given
  (then the exact ratio of such pairs is not known and percentiles use the
  upper bound; off by default).
* Cross-checks (reported beside the main number, same abstract tokens):
  - LCS Dice 2*LCS/(|a|+|b|) (exact, bit-parallel).  difflib's ratio uses
    greedy longest blocks, so ratio <= LCS Dice; a pair with ratio < 0.5 but
    LCS Dice >= 0.5 is one that difflib's heuristic, not the code, makes low.
  - for every dissimilar pair, the best LCS Dice of instance B against any
    other member of its family (codetable lets a member join through its best
    match, so B may be far from instances[0] but close to another member).
* Size split: "small" = the smaller of the two instances has < 100 tokens by
  codetable's own `tokens` count; "large" = >= 100.
* Percentiles are nearest-rank over all judged pairs.

Output: a text summary on stdout (per report = per tree), the worst pairs,
optionally a JSON file (--json) and a TSV of a random sample of pairs
(--sample-out; --sample-size 0 writes all pairs) for reading by eye.
"""
import argparse
import bisect
import difflib
import json
import math
import os
import random
import re
import sys
import time
from multiprocessing import Pool

try:
    from pygments.lexers import get_lexer_for_filename
    from pygments.token import Comment, Literal, Name, Text, Whitespace, Keyword
    from pygments.util import ClassNotFound
except ImportError:  # pragma: no cover
    sys.exit("precision.py needs pygments (pip install pygments)")

_LEXERS = {}
_DIRECTIVE = re.compile(r"\s*([A-Za-z_]\w*)")


def _lexer_for(path):
    ext = os.path.splitext(path)[1].lower() or os.path.basename(path)
    if ext not in _LEXERS:
        try:
            _LEXERS[ext] = get_lexer_for_filename(path, stripnl=False, ensurenl=False)
        except ClassNotFound:
            _LEXERS[ext] = None
    return _LEXERS[ext]


def _abstract(lexer, text, base, out, depth=0):
    """Append (offset, token) pairs for `text` (which starts at `base`)."""
    prev_hash = False
    for idx, ttype, value in lexer.get_tokens_unprocessed(text):
        off = base + idx
        if ttype in Comment.Preproc or ttype in Comment.PreprocFile:
            if ttype in Comment.PreprocFile:
                out.append((off, "LIT"))
                prev_hash = False
                continue
            s = value.strip()
            if not s:
                continue
            if s == "#":
                out.append((off, "#"))
                prev_hash = True
                continue
            body = value.replace("\\\n", "  ").replace("\\\r\n", "   ")
            if body.rstrip().endswith("\\"):
                body = body.rstrip()[:-1]
            start = 0
            if prev_hash:
                m = _DIRECTIVE.match(body)
                if m:
                    out.append((off + m.start(1), m.group(1)))
                    start = m.end()
            prev_hash = False
            rest = body[start:]
            if depth < 2 and rest.strip():
                _abstract(lexer, rest, off + start, out, depth + 1)
            continue
        prev_hash = False
        if ttype in Comment:
            continue
        if ttype in Whitespace or (ttype in Text and not value.strip()):
            continue
        if ttype in Name:
            tok = "ID"
        elif ttype in Literal:
            tok = "LIT"
        else:
            tok = value.strip()
            if not tok:
                continue
        out.append((off, tok))


def lex_file(args):
    """Worker: lex one file -> (relpath, lines[], toks[]) or (relpath, None, err)."""
    root, rel = args
    path = os.path.join(root, rel)
    lexer = _lexer_for(path)
    if lexer is None:
        return rel, None, "no pygments lexer"
    try:
        with open(path, "r", encoding="utf-8", errors="replace", newline="") as f:
            text = f.read()
    except OSError as e:
        return rel, None, str(e)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    line_starts = [0]
    for m in re.finditer("\n", text):
        line_starts.append(m.end())
    raw = []
    _abstract(lexer, text, 0, raw)
    lines, toks = [], []
    for off, tok in raw:
        lines.append(bisect.bisect_right(line_starts, off))  # 1-based line
        toks.append(tok)
    return rel, lines, toks


def span_tokens(lines, toks, start, end):
    lo = bisect.bisect_left(lines, start)
    hi = bisect.bisect_right(lines, end)
    out = []
    for t in toks[lo:hi]:
        if t == "LIT" and out and out[-1] == "LIT":
            continue
        out.append(t)
    return out


def lcs_len(a, b):
    """Exact LCS length, bit-parallel (Hyyro 2004), O(len(a)*len(b)/word)."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return 0
    n = len(a)
    masks = {}
    for i, c in enumerate(a):
        masks[c] = masks.get(c, 0) | (1 << i)
    full = (1 << n) - 1
    v = full
    for c in b:
        u = v & masks.get(c, 0)
        v = ((v + u) | (v - u)) & full
    return n - bin(v).count("1")


def lcs_dice(a, b):
    return 2.0 * lcs_len(a, b) / (len(a) + len(b)) if (a or b) else 1.0


def score_pair(args):
    """Worker: (key, a, b, threshold, bounds) -> (key, ratio, exact, lcs_dice)."""
    key, a, b, thr, bounds = args
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    lcs = lcs_dice(a, b)
    if bounds:
        r = sm.real_quick_ratio()
        if r < thr:
            return key, r, False, lcs
        r = sm.quick_ratio()
        if r < thr:
            return key, r, False, lcs
    return key, sm.ratio(), True, lcs


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = max(1, math.ceil(p / 100.0 * len(sorted_vals)))
    return sorted_vals[k - 1]


def share(n, d):
    return 100.0 * n / d if d else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("report")
    ap.add_argument("root")
    ap.add_argument("--json", dest="json_out")
    ap.add_argument("--sample-out")
    ap.add_argument("--sample-size", type=int, default=50,
                    help="pairs in --sample-out (0 = all pairs)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--small", type=int, default=100,
                    help="size split on the smaller instance's codetable tokens")
    ap.add_argument("--worst", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (max 2 advised)")
    ap.add_argument("--bounds", action="store_true",
                    help="skip exact ratio when quick_ratio upper bounds already < threshold")
    a = ap.parse_args()
    t0 = time.time()

    rep = json.load(open(a.report))
    fams = [f for f in rep["families"] if f.get("clone_type") == "T3"]
    pairs = []  # dicts
    for f in fams:
        insts = f["instances"]
        if len(insts) < 2:
            continue
        # The representative every member was verified against (schema 2), else the first.
        r = f.get("representative", 0)
        i0 = insts[r]
        for ik in insts[:r] + insts[r + 1:]:
            pairs.append({
                "family": f["id"], "language": f.get("language"),
                "fam_sim_min": f["similarity"]["min"], "fam_sim_max": f["similarity"]["max"],
                "a": i0, "b": ik,
                "min_tokens": min(i0["tokens"], ik["tokens"]),
            })
    files = sorted({p["a"]["path"] for p in pairs} | {p["b"]["path"] for p in pairs})

    jobs = max(1, a.jobs)
    pool = Pool(jobs) if jobs > 1 else None
    mapper = (lambda fn, it: pool.imap_unordered(fn, it, chunksize=4)) if pool else map
    lexed, lex_err = {}, {}
    for rel, lines, toks in mapper(lex_file, [(a.root, r) for r in files]):
        if lines is None:
            lex_err[rel] = toks
        else:
            lexed[rel] = (lines, toks)
    t_lex = time.time() - t0

    span_cache = {}

    def span(inst):
        k = (inst["path"], inst["start_line"], inst["end_line"])
        if k not in span_cache:
            lines, toks = lexed[inst["path"]]
            span_cache[k] = span_tokens(lines, toks, inst["start_line"], inst["end_line"])
        return span_cache[k]

    work, skipped = [], 0
    for i, p in enumerate(pairs):
        if p["a"]["path"] in lex_err or p["b"]["path"] in lex_err:
            p["ratio"] = None
            skipped += 1
            continue
        sa, sb = span(p["a"]), span(p["b"])
        p["pyg_tokens"] = [len(sa), len(sb)]
        work.append((i, sa, sb, a.threshold, a.bounds))
    # big pairs first for load balance
    work.sort(key=lambda w: -(len(w[1]) * len(w[2])))
    smapper = (lambda fn, it: pool.imap_unordered(fn, it, chunksize=8)) if pool else map
    for i, r, exact, lcs in smapper(score_pair, work):
        pairs[i]["ratio"] = r
        pairs[i]["exact"] = exact
        pairs[i]["lcs"] = lcs
    # For each dissimilar pair: B's best LCS Dice against any other member of its
    # family (codetable lets a member join through its best match, not the leader).
    fam_by_id = {f["id"]: f for f in fams}
    for p in pairs:
        if p["ratio"] is None or p["ratio"] >= a.threshold:
            continue
        sb = span(p["b"])
        best, best_loc = -1.0, None
        for m in fam_by_id[p["family"]]["instances"]:
            if m is p["b"] or m["path"] in lex_err:
                continue
            d = lcs_dice(sb, span(m))
            if d > best:
                best, best_loc = d, m
        p["best_member_lcs"] = round(best, 4)
        p["best_member"] = f'{best_loc["path"]}:{best_loc["start_line"]}-{best_loc["end_line"]}' if best_loc else None
    if pool:
        pool.close()
        pool.join()
    elapsed = time.time() - t0

    judged = [p for p in pairs if p["ratio"] is not None]
    thr = a.threshold

    def stats(ps):
        vals = sorted(p["ratio"] for p in ps)
        dis = sum(1 for v in vals if v < thr)
        return {"pairs": len(vals), "dissimilar": dis, "dissimilar_pct": round(share(dis, len(vals)), 2),
                "p1": round(pct(vals, 1), 4), "p5": round(pct(vals, 5), 4),
                "p10": round(pct(vals, 10), 4), "median": round(pct(vals, 50), 4),
                "mean": round(sum(vals) / len(vals), 4) if vals else float("nan"),
                "lcs_dissimilar": sum(1 for p in ps if p["lcs"] < thr),
                "lcs_median": round(pct(sorted(p["lcs"] for p in ps), 50), 4),
                "dissimilar_best_member_ok": sum(1 for p in ps if p["ratio"] < thr
                                                 and p.get("best_member_lcs", 0) >= thr)}

    summary = stats(judged)
    summary["t3_families"] = len(fams)
    summary["families_with_dissimilar"] = len({p["family"] for p in judged if p["ratio"] < thr})
    summary["small"] = stats([p for p in judged if p["min_tokens"] < a.small])
    summary["large"] = stats([p for p in judged if p["min_tokens"] >= a.small])
    summary["skipped_pairs"] = skipped
    summary["threshold"] = thr
    summary["small_split_tokens"] = a.small
    summary["inexact_pairs"] = sum(1 for p in judged if not p.get("exact", True))
    langs = sorted({p["language"] for p in judged if p["language"]})
    by_lang = {l: stats([p for p in judged if p["language"] == l]) for l in langs} if len(langs) > 1 else {}
    # histogram in 0.1 bins
    hist = [0] * 10
    for p in judged:
        hist[min(9, int(p["ratio"] * 10))] += 1

    worst = sorted(judged, key=lambda p: (p["ratio"], p["family"]))[: a.worst]

    def loc(i):
        return f'{i["path"]}:{i["start_line"]}-{i["end_line"]}'

    tree = rep.get("root") or a.root
    print(f"== {a.report}  (root {a.root})")
    print(f"T3 families: {len(fams)}   pairs judged: {summary['pairs']}   skipped: {skipped}"
          + (f"  (no lexer: {len(lex_err)} files)" if lex_err else ""))
    print(f"dissimilar (ratio < {thr}): {summary['dissimilar']} = {summary['dissimilar_pct']:.2f}%"
          f"   in {summary['families_with_dissimilar']} families")
    print(f"ratio p1 {summary['p1']:.3f}  p5 {summary['p5']:.3f}  p10 {summary['p10']:.3f}"
          f"  median {summary['median']:.3f}  mean {summary['mean']:.3f}")
    for name, s in (("small (<%d tok)" % a.small, summary["small"]), ("large (>=%d tok)" % a.small, summary["large"])):
        print(f"  {name:17}: {s['pairs']:6} pairs, {s['dissimilar']:5} dissimilar = {s['dissimilar_pct']:6.2f}%"
              f"   p5 {s['p5']:.3f} median {s['median']:.3f}")
    for l, s in by_lang.items():
        print(f"  lang {l:12}: {s['pairs']:6} pairs, {s['dissimilar']:5} dissimilar = {s['dissimilar_pct']:6.2f}%")
    print(f"cross-checks on the same tokens: LCS Dice < {thr}: {summary['lcs_dissimilar']} pairs"
          f" (LCS median {summary['lcs_median']:.3f}); dissimilar pairs whose B has LCS Dice >= {thr}"
          f" to some other member: {summary['dissimilar_best_member_ok']}")
    print("histogram (0.1 bins):", " ".join(f"{i/10:.1f}:{h}" for i, h in enumerate(hist)))
    if summary["inexact_pairs"]:
        print(f"note: {summary['inexact_pairs']} pairs scored by upper bound only (--bounds)")
    print(f"time: {elapsed:.1f} s (lexing {len(lexed)} files {t_lex:.1f} s), jobs {jobs}")
    print(f"\nworst {len(worst)} pairs: ratio  lcs-dice  fam-sim(min..max)  family  tokens(ct a/b, pyg a/b)  A  B"
          "  [best other member of B by LCS Dice]")
    for p in worst:
        bm = f'  [best {p["best_member_lcs"]:.3f} {p["best_member"]}]' if "best_member" in p else ""
        print(f'  {p["ratio"]:.3f}  {p["lcs"]:.3f}  {p["fam_sim_min"]:.3f}..{p["fam_sim_max"]:.3f}  #{p["family"]:<5}'
              f' {p["a"]["tokens"]}/{p["b"]["tokens"]} ({p["pyg_tokens"][0]}/{p["pyg_tokens"][1]})'
              f'  {loc(p["a"])}  {loc(p["b"])}{bm}')

    def prow(p):
        return {"family": p["family"], "language": p["language"],
                "ratio": round(p["ratio"], 4), "exact": p.get("exact", True),
                "lcs_dice": round(p["lcs"], 4),
                "best_member_lcs": p.get("best_member_lcs"), "best_member": p.get("best_member"),
                "fam_sim": [p["fam_sim_min"], p["fam_sim_max"]],
                "a": loc(p["a"]), "b": loc(p["b"]),
                "tokens": [p["a"]["tokens"], p["b"]["tokens"]], "pyg_tokens": p["pyg_tokens"]}

    if a.json_out:
        out = {"report": a.report, "root": a.root, "tool": rep.get("tool"),
               "method": "T3 families; pairs = instances[k] vs instances[0]; pygments tokens, "
                         "comments/ws dropped, Name->ID, Literal->LIT (runs merged); "
                         "difflib ratio autojunk=False; dissimilar = ratio < threshold",
               "summary": summary, "by_language": by_lang, "histogram_0.1": hist,
               "worst": [prow(p) for p in worst], "lex_errors": lex_err,
               "elapsed_s": round(elapsed, 2)}
        with open(a.json_out, "w") as f:
            json.dump(out, f, indent=1)
    if a.sample_out:
        rng = random.Random(a.seed)
        sample = judged if a.sample_size <= 0 or a.sample_size >= len(judged) else rng.sample(judged, a.sample_size)
        sample = sorted(sample, key=lambda p: p["ratio"])
        with open(a.sample_out, "w") as f:
            f.write("ratio\tlcs_dice\tfam_sim_min\tfam_sim_max\tfamily\ttokens_a\ttokens_b\tpyg_a\tpyg_b\ta\tb\tverdict\n")
            for p in sample:
                f.write(f'{p["ratio"]:.4f}\t{p["lcs"]:.4f}\t{p["fam_sim_min"]}\t{p["fam_sim_max"]}\t{p["family"]}\t'
                        f'{p["a"]["tokens"]}\t{p["b"]["tokens"]}\t{p["pyg_tokens"][0]}\t{p["pyg_tokens"][1]}\t'
                        f'{loc(p["a"])}\t{loc(p["b"])}\t\n')


if __name__ == "__main__":
    main()
