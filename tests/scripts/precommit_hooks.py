#!/usr/bin/env python3
"""Runs the hooks of .pre-commit-hooks.yaml as pre-commit does (entry + args + the staged files
that match `files` when pass_filenames) against the shipped policy, with `portolan` on PATH:
both must pass, and the fmt hook must fail (exit 1, with a diff) on an unformatted copy.
The file is read with a small parser of the subset it uses, so no YAML module is needed.
usage: precommit_hooks.py PORTOLAN REPO_ROOT"""
import os, re, shlex, shutil, subprocess, sys, tempfile

portolan, root = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])

def hooks(path):
    out, cur = [], None
    for line in open(path):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = re.match(r"^(- )?\s*(\w+):\s*(.*)$", line.rstrip("\n"))
        if not m:
            sys.exit(f"precommit_hooks: cannot read line: {line!r}")
        if m.group(1):
            cur = {}
            out.append(cur)
        key, value = m.group(2), m.group(3).strip()
        if value.startswith("[") and value.endswith("]"):
            value = [v.strip() for v in value[1:-1].split(",") if v.strip()]
        cur[key] = value
    return out

def run(hook, cwd, files):
    cmd = shlex.split(hook["entry"]) + hook.get("args", [])
    if hook.get("pass_filenames", "true") != "false":
        cmd += [f for f in files if re.search(hook["files"], f)]
    env = dict(os.environ, PATH=os.path.dirname(portolan) + os.pathsep + os.environ["PATH"])
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)

hs = {h["id"]: h for h in hooks(os.path.join(root, ".pre-commit-hooks.yaml"))}
assert set(hs) == {"portolan-check", "portolan-fmt"}, hs.keys()
assert all(h["language"] == "system" for h in hs.values())
with tempfile.TemporaryDirectory() as tmp:
    # A policy repository: the shipped policy and its manifest, named as the hook expects.
    for f in ("lync2013-public-im.policy", "lync2013-public-im.toml"):
        shutil.copy(os.path.join(root, "policies", f), tmp)
    os.rename(os.path.join(tmp, "lync2013-public-im.toml"), os.path.join(tmp, "portolan.toml"))
    staged = ["lync2013-public-im.policy", "portolan.toml"]
    failed = False
    for hid in ("portolan-check", "portolan-fmt"):
        r = run(hs[hid], tmp, staged)
        print(f"{hid}: exit {r.returncode}")
        if r.returncode != 0:
            print(r.stdout + r.stderr)
            failed = True
    # An unformatted policy makes the fmt hook fail with a diff.
    p = os.path.join(tmp, "lync2013-public-im.policy")
    text = open(p).read()
    open(p, "w").write(text.replace("zone internet  ", "zone internet "))
    r = run(hs["portolan-fmt"], tmp, staged)
    print(f"portolan-fmt on an unformatted file: exit {r.returncode}")
    if r.returncode != 1 or "+zone internet  " not in r.stdout:
        print(r.stdout + r.stderr)
        failed = True
sys.exit(1 if failed else 0)
