#!/usr/bin/env python3
"""Print sampled families of a codetable JSON report with their first two instances' code,
for reading precision by eye: show-family.py REPORT.json [--type T3] [--sample N] [--seed S]."""
import argparse, json, os, random

p = argparse.ArgumentParser()
p.add_argument("report")
p.add_argument("--type", default="T3")
p.add_argument("--sample", type=int, default=10)
p.add_argument("--seed", type=int, default=1)
p.add_argument("--max-lines", type=int, default=40)
a = p.parse_args()
r = json.load(open(a.report))
fams = [f for f in r["families"] if f["clone_type"] == a.type]
random.Random(a.seed).shuffle(fams)
for f in fams[: a.sample]:
    print(f"=== family #{f['id']} {f['clone_type']} {f['category']} sim {f['similarity']['min']}-{f['similarity']['max']} instances {len(f['instances'])}")
    for inst in f["instances"][:2]:
        path = os.path.join(r["root"], inst["path"])
        lines = open(path, errors="replace").read().splitlines()[inst["start_line"] - 1 : inst["end_line"]]
        print(f"--- {inst['path']}:{inst['start_line']}-{inst['end_line']}")
        print("\n".join(lines[: a.max_lines]))
