#!/usr/bin/env python3
"""Precision figure: runs `portolan check` on every policy and manifest under tests/ and
policies/ and compares the findings with a reviewed verdict file, one line per finding:

    INPUT <TAB> CODE <TAB> FILE:LINE:COL <TAB> agreed|false [<TAB> why]

A finding the file does not list (a change that adds findings, noise or not) fails, and so does a
listed one that is gone: both must be reviewed. Prints agreed/total, overall and for the
analysis codes alone, and fails below MIN_PRECISION.

usage: precision.py PORTOLAN REPO_ROOT VERDICTS [--regen]
  --regen writes the current findings to VERDICTS, keeping the verdicts already given and
  marking new ones 'agreed?' for review (the test fails until every '?' is decided).
"""
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

MIN_PRECISION = 0.95
# Inputs that are invalid on purpose (tests/bad pins their errors) are judged too: their
# errors are findings like any other. Helper folders are not inputs of their own.
SKIP_DIRS = {"include", "import", "fuzz"}


def inputs(root):
    out = []
    for base in ("tests", "policies"):
        for d in sorted({p.parent for p in (root / base).rglob("*") if p.suffix in (".toml", ".policy")}):
            if d.name in SKIP_DIRS:
                continue
            listed, imported = set(), set()
            for m in sorted(d.glob("*.toml")):
                try:
                    data = tomllib.loads(m.read_text())
                except Exception:
                    data = {}
                pols = data.get("policies", []) if isinstance(data, dict) else []
                listed.update(p for p in pols if isinstance(p, str))
                out.append((d, ["--manifest", m.name], m.relative_to(root).as_posix()))
            for p in sorted(d.glob("*.policy")):
                for imp in re.findall(r'^\s*import\s+"([^"]+)"', p.read_text(errors="replace"), re.M):
                    imported.add(Path(imp).as_posix())
            for p in sorted(d.glob("*.policy")):
                stem_toml = p.with_suffix(".toml")
                if p.name in listed or p.name in imported or stem_toml.exists():
                    continue
                out.append((d, [p.name], p.relative_to(root).as_posix()))
    return out


def findings(portolan, d, args):
    r = subprocess.run([portolan, "check", *args, "--format", "json"], cwd=d,
                       capture_output=True, text=True, timeout=120)
    if r.returncode >= 2 and not r.stdout.strip():
        return []  # usage error or unreadable: nothing judged
    data = json.loads(r.stdout)
    out = []
    for f in data["findings"]:
        loc = f.get("location") or {}
        where = f"{loc.get('file', '-')}:{loc.get('line', 0)}:{loc.get('column', 0)}"
        out.append((f["code"], where))
    return sorted(set(out))


def main():
    portolan = str(Path(sys.argv[1]).resolve())
    root, verdicts = Path(sys.argv[2]).resolve(), Path(sys.argv[3])
    regen = "--regen" in sys.argv[4:]
    known = {}
    if verdicts.exists():
        for line in verdicts.read_text().splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            known[tuple(parts[:3])] = parts[3:]
    actual = []
    for d, args, name in inputs(root):
        for code, where in findings(portolan, d, args):
            actual.append((name, code, where))
    listing = subprocess.run([portolan, "check", "--list-checks"], capture_output=True,
                             text=True).stdout
    codes = set(re.findall(r"^\s+(\S+) \([a-z]+, analysis\)", listing, re.M))
    if regen:
        header = [l for l in (verdicts.read_text().splitlines() if verdicts.exists() else [])
                  if l.startswith("#")]
        lines = header[:]
        for key in actual:
            v = known.get(key, ["agreed?"])
            lines.append("\t".join([*key, *v]))
        verdicts.write_text("\n".join(lines) + "\n")
        print(f"precision: wrote {len(actual)} findings to {verdicts}")
        return 0
    ok = True
    for key in actual:
        if key not in known:
            print("unreviewed finding (review it and add a verdict):", "\t".join(key))
            ok = False
        elif known[key][0] not in ("agreed", "false"):
            print("undecided verdict:", "\t".join(key), known[key][0])
            ok = False
    gone = set(known) - set(actual)
    for key in sorted(gone):
        print("listed finding no longer reported (review and remove it):", "\t".join(key))
        ok = False
    total = sum(1 for k in actual if k in known)
    agreed = sum(1 for k in actual if k in known and known[k][0] == "agreed")
    a_total = sum(1 for k in actual if k in known and k[1] in codes)
    a_agreed = sum(1 for k in actual if k in known and k[1] in codes and known[k][0] == "agreed")
    print(f"precision: {agreed}/{total} findings agreed"
          f" ({100.0 * agreed / max(total, 1):.1f}%); analysis codes: {a_agreed}/{a_total}"
          f" ({100.0 * a_agreed / max(a_total, 1):.1f}%)")
    if total and agreed / total < MIN_PRECISION:
        print(f"precision below {MIN_PRECISION:.0%}")
        ok = False
    if a_total and a_agreed / a_total < MIN_PRECISION:
        print(f"analysis precision below {MIN_PRECISION:.0%}")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
