"""Compare Airlock's complexity metrics with radon (cyclomatic) and complexipy (cognitive).

Run through scripts/compare-complexity, which prepares the tools' virtualenv; this file
runs inside it (complexipy is used through its Python API, the only way to get the
line of each function).

Functions are matched by (file, line of the def, name):
- radon reports the line of the `def`; its names are `Class.method`, or `outer.inner`
  for closures (`--show-closures`), so the last dotted component is compared;
- complexipy reports `Class::method` and the first line of the function's range (the
  first decorator), so the name must be equal (`::` read as `.`) and the def line must
  fall inside complexipy's range.
"""

import argparse
import json
import os
import subprocess
import sys
from collections import defaultdict

CYCLOMATIC_THRESHOLD = 98.0
COGNITIVE_THRESHOLD = 95.0


def rel(path, root):
    return os.path.relpath(os.path.abspath(path), root)


def skipped(relpath, skip_dirs):
    parts = relpath.split(os.sep)[:-1]
    return any(p in skip_dirs or p.startswith(".") for p in parts)


def run_airlock(cmd, root, skip_dirs):
    """{relpath: {"functions": [...], "complexity": {...}}} from a JSON-lines producer."""
    # `airlock check` exits non-zero when it finds risky code; only a run that printed
    # nothing is a failure.
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0 and not proc.stdout.strip():
        raise SystemExit(f"compare-complexity: {' '.join(cmd)} failed ({proc.returncode})")
    files = {}
    errors = 0
    for line in proc.stdout.splitlines():
        if not line.strip():
            continue
        obj = json.loads(line)
        path = rel(obj["path"], root)
        if skipped(path, skip_dirs):
            continue
        if "result" in obj:  # `airlock check --json`
            result = obj["result"]
            complexity = result.get("complexity") or {}
            if any(i.get("code") == "AL001" for i in result.get("issues", [])):
                errors += 1
                continue
            files[path] = {"functions": complexity.get("functions", []), "complexity": complexity}
        elif "error" in obj:
            errors += 1
        else:
            files[path] = obj
    return files, errors


def run_radon(radon, root, skip_dirs):
    """{(relpath, line): (short name, full name, complexity)}."""
    cmd = [radon, "cc", "-j", "--show-closures"]
    for d in sorted(skip_dirs):
        cmd += ["-i", d]
    cmd.append(root)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, check=True, text=True)
    data = json.loads(proc.stdout)
    out = {}
    errors = 0

    def add(path, block):
        if block.get("type") in ("function", "method"):
            name = block["name"]
            full = f'{block["classname"]}.{name}' if block.get("classname") else name
            out.setdefault((path, block["lineno"]), (name.split(".")[-1], full, block["complexity"]))
        for key in ("methods", "closures"):
            for inner in block.get(key, ()):
                add(path, inner)

    for path, blocks in data.items():
        relpath = rel(path, root)
        if skipped(relpath, skip_dirs):
            continue
        if isinstance(blocks, dict):  # {"error": ...}
            errors += 1
            continue
        for block in blocks:
            add(relpath, block)
    return out, errors


def run_complexipy(files, root):
    """{relpath: [(name, line_start, line_end, complexity)]}, module totals, errors."""
    import complexipy

    out = {}
    totals = {}
    errors = 0
    for relpath in files:
        try:
            result = complexipy.file_complexity(
                os.path.join(root, relpath), check_script=True, no_ignore=True, with_plans=False
            )
        except Exception:  # does not parse, not UTF-8...
            errors += 1
            continue
        funcs = []
        for f in result.functions:
            if f.name == "<module>":
                continue
            funcs.append((f.name.replace("::", "."), f.line_start, f.line_end, f.complexity))
        out[relpath] = funcs
        totals[relpath] = result.complexity
    return out, totals, errors


def python_files(root, skip_dirs):
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in skip_dirs and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(".py"):
                found.append(rel(os.path.join(dirpath, name), root))
    return found


def pct(a, b):
    return 100.0 * a / b if b else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stdlib", required=True, help="directory to analyse")
    ap.add_argument("--radon", required=True, help="radon executable")
    ap.add_argument("--skip-dir", action="append", default=["site-packages"], help="directory names to leave out")
    ap.add_argument("--show", type=int, default=20, help="disagreements to print per metric")
    ap.add_argument("airlock", nargs=argparse.REMAINDER, help="command printing Airlock's JSON lines")
    args = ap.parse_args()
    root = os.path.abspath(args.stdlib)
    skip_dirs = set(args.skip_dir)
    cmd = args.airlock[1:] if args.airlock[:1] == ["--"] else args.airlock
    if not cmd:
        ap.error("give the Airlock command after --")

    print(f"analysing {root} (skipping {', '.join(sorted(skip_dirs))})", file=sys.stderr)
    ours, our_errors = run_airlock(cmd + [root], root, skip_dirs)
    radon, radon_errors = run_radon(args.radon, root, skip_dirs)
    cx, cx_totals, cx_errors = run_complexipy(python_files(root, skip_dirs), root)

    by_line = {}
    by_name = defaultdict(list)
    for path, obj in ours.items():
        for f in obj["functions"]:
            by_line[(path, f["line"])] = f
            by_name[(path, f["name"])].append(f)
    our_count = len(by_line)

    # Cyclomatic against radon.
    cc_total = cc_agree = cc_unmatched = 0
    cc_bad = []
    for (path, line), (short, full, value) in sorted(radon.items()):
        f = by_line.get((path, line))
        if f is None or f["name"].split(".")[-1] != short:
            if path in ours:
                cc_unmatched += 1
            continue
        cc_total += 1
        if f["cyclomatic"] == value:
            cc_agree += 1
        else:
            cc_bad.append((path, line, f["name"], f["cyclomatic"], value))

    # Cognitive against complexipy.
    cg_total = cg_agree = cg_unmatched = 0
    cg_bad = []
    for path, funcs in sorted(cx.items()):
        for name, start, end, value in funcs:
            candidates = [f for f in by_name.get((path, name), ()) if start <= f["line"] <= end]
            if not candidates:
                if path in ours:
                    cg_unmatched += 1
                continue
            f = min(candidates, key=lambda f: f["line"])
            cg_total += 1
            if f["cognitive"] == value:
                cg_agree += 1
            else:
                cg_bad.append((path, f["line"], name, f["cognitive"], value))

    # File totals of cognitive complexity (complexipy: functions + module-level code).
    ft_total = ft_agree = 0
    for path, total in cx_totals.items():
        if path in ours and "cognitive_complexity" in ours[path].get("complexity", {}):
            ft_total += 1
            ft_agree += ours[path]["complexity"]["cognitive_complexity"] == total

    print(f"files: airlock {len(ours)} (+{our_errors} not parsed), radon errors {radon_errors}, "
          f"complexipy errors {cx_errors}; airlock functions {our_count}")
    print(f"cyclomatic vs radon 6.0.1:     {cc_agree}/{cc_total} = {pct(cc_agree, cc_total):.2f}% "
          f"(threshold {CYCLOMATIC_THRESHOLD}%; {cc_unmatched} radon functions unmatched)")
    print(f"cognitive vs complexipy 8.3.0: {cg_agree}/{cg_total} = {pct(cg_agree, cg_total):.2f}% "
          f"(threshold {COGNITIVE_THRESHOLD}%; {cg_unmatched} complexipy functions unmatched)")
    print(f"cognitive file totals:         {ft_agree}/{ft_total} = {pct(ft_agree, ft_total):.2f}%")
    for title, bad in (("cyclomatic (airlock vs radon)", cc_bad), ("cognitive (airlock vs complexipy)", cg_bad)):
        if bad:
            print(f"\nfirst {min(args.show, len(bad))} of {len(bad)} {title} disagreements:")
            for path, line, name, mine, theirs in bad[: args.show]:
                print(f"  {path}:{line} {name}: {mine} vs {theirs}")

    ok = pct(cc_agree, cc_total) >= CYCLOMATIC_THRESHOLD and pct(cg_agree, cg_total) >= COGNITIVE_THRESHOLD
    return 0 if ok and cc_total and cg_total else 1


if __name__ == "__main__":
    sys.exit(main())
