#!/usr/bin/env python3
"""Quiet generated configs (issue 11, item 7): a config's bytes change only where its rules do.

Builds every target of the shipped policy in a temporary copy, then again after each edit below,
and compares file by file:

  new-host-flow   a role and a flow inserted at the top (moving every other flow down) that only
                  the edge host enforces: every perimeter output (and nothing else) stays
                  byte-identical; each edge-host output only gains lines, in hunks that name
                  the new flow's id, and a trace-table entry for it.
  new-expired     a flow of existing roles inserted at the top that has expired in environment
                  `lab`: the `lab` output stays byte-identical, every `lab2013` output gains only
                  the new flow's lines.
  moved           comment and blank lines inserted at the top move every flow: no output changes
                  (configs name flows by id; line numbers are in no config).

The new flow's id is computed here from the documented formula (docs/backends.md, "Trace
format"): "f" and the 32-bit FNV-1a hash of the flow's summary, 8 hex digits.

usage: quiet_configs.py PORTOLAN PROJECT_ROOT
"""
import difflib
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

POLICY = "lync2013-public-im.policy"
MANIFEST = "lync2013-public-im.toml"
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def flow_id(summary):
    h = 0x811C9DC5
    for b in summary.encode():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return "f%08x" % h


def build(portolan, d):
    out = d / "out"
    if out.exists():
        shutil.rmtree(out)
    r = subprocess.run([portolan, "build", "--manifest", str(d / MANIFEST), "--out", str(out)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout + r.stderr)
        sys.exit("quiet: build failed in " + str(d))
    return {p.relative_to(out).as_posix(): p.read_text() for p in sorted(out.rglob("*"))
            if p.is_file()}


# A trace-table entry in any vendor's comment syntax: "#   ID FILE", "!   ID FILE", or the JSON
# string "  ID FILE" in the "//" array.
TABLE_ENTRY = re.compile(r'^\s*(?:#|!|")?\s+(f[0-9a-f]{8}) (\S+?)"?,?$')


def hunks(a, b):
    """Non-equal opcodes of a line diff; a trailing ',' is ignored (JSON puts one after every
    member but the last, so appending a member changes the previous line's comma only)."""
    la = [l.rstrip(",") for l in a.splitlines()]
    lb = [l.rstrip(",") for l in b.splitlines()]
    sm = difflib.SequenceMatcher(None, la, lb, autojunk=False)
    return [(op, la[i1:i2], lb[j1:j2]) for op, i1, i2, j1, j2 in sm.get_opcodes()
            if op != "equal"]


# nftables folded sets (docs/backends.md, "Folded sets"): the rule that looks a set up, and
# the set's declaration with its element lines "ADDR . ... comment "ID"".
NFT_LOOKUP = re.compile(r"^\s+\S.* @(\S+) (?:accept|drop)$")


def nft_set_ids(text, name):
    """The flow ids in the element comments of nft set `name` ("" when no such set)."""
    m = re.search(r"\tset " + re.escape(name) + r" \{\n(.*?)\n\t\}\n", text, re.S)
    return set(re.findall(r'comment "(f[0-9a-f]{8})"', m.group(1))) if m else set()


def only_new_flow(name, before, after, new_id, new_names):
    """Only insertions, each naming the new flow's id or an endpoint only it uses (the
    declaration of that endpoint's addresses), or a lookup of a folded set that holds only the
    new flow's elements (a set the new flow brought, which needs its rule)."""
    ok = True

    def names_new(l):
        if new_id in l or any(n in l for n in new_names):
            return True
        m = NFT_LOOKUP.match(l)
        return bool(m) and nft_set_ids(after, m.group(1)) == {new_id}

    for op, old, new in hunks(before, after):
        if op != "insert":
            fail(f"{name}: lines removed or changed, not only inserted:\n  -" +
                 "\n  -".join(old) + "\n  +" + "\n  +".join(new))
            ok = False
        elif not all(names_new(l) for l in new if NFT_LOOKUP.match(l)) or not any(
                names_new(l) for l in new):
            fail(f"{name}: inserted lines that name neither the new flow {new_id} nor its "
                 f"endpoints {new_names}:\n  +" +
                 "\n  +".join(new))
            ok = False
    entries = [m.groups() for m in map(TABLE_ENTRY.match, after.splitlines()) if m]
    if (new_id, POLICY) not in entries:
        fail(f"{name}: no trace-table entry '{new_id} {POLICY}'")
        ok = False
    return ok


def scenario_new_flow(portolan, base, work, label, prefix, summary, bind, unchanged, new_names):
    d = work / label
    shutil.copytree(base, d)
    pol = d / POLICY
    pol.write_text(prefix + pol.read_text())
    if bind:
        man = d / MANIFEST
        man.write_text(man.read_text().replace('client        = "any"\n',
                                               'client        = "any"\n' + bind))
    before, after = build(portolan, base), build(portolan, d)
    unchanged = unchanged | {".portolan-outputs"}  # the build's list of the files it wrote
    new_id = flow_id(summary)
    if sorted(before) != sorted(after):
        fail(f"{label}: the set of outputs changed: {sorted(before)} -> {sorted(after)}")
    same = changed = 0
    for name in sorted(before):
        a, b = before[name], after.get(name, "")
        if name in unchanged:
            if a != b:
                fail(f"{label}: {name} enforces none of the new flow but changed:\n" +
                     "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True),
                                                  name, name + " (after)")))
            else:
                same += 1
            if new_id in b:
                fail(f"{label}: {name} names the new flow {new_id}")
        else:
            if a == b:
                fail(f"{label}: {name} enforces the new flow but did not change")
            elif only_new_flow(f"{label}: {name}", a, b, new_id, new_names):
                changed += 1
    print(f"{label}: {same} outputs byte-identical (expected {len(unchanged)}), {changed} of "
          f"{len(before) - len(unchanged)} changed by the new flow {new_id} only")


def scenario_moved(portolan, base, work):
    d = work / "moved"
    shutil.copytree(base, d)
    pol = d / POLICY
    added = "// A comment inserted above everything.\n\n// And another, after a blank line.\n"
    pol.write_text(added + pol.read_text())
    before, after = build(portolan, base), build(portolan, d)
    same = 0
    for name in sorted(before):
        a, b = before[name], after.get(name, "")
        if a != b:
            fail(f"moved: {name} changed when every flow moved down {added.count(chr(10))} "
                 "lines:\n" + "".join(difflib.unified_diff(a.splitlines(True),
                                                           b.splitlines(True), name,
                                                           name + " (after)")))
        else:
            same += 1
    print(f"moved: {same} of {len(before)} outputs byte-identical")


def main():
    portolan, root = sys.argv[1], pathlib.Path(sys.argv[2])
    with tempfile.TemporaryDirectory() as t:
        work = pathlib.Path(t)
        base = work / "base"
        shutil.copytree(root / "policies", base)
        perimeter = {"nftables/perimeter.nft", "iptables/perimeter/rules.v4",
                     "iptables/perimeter/rules.v6", "pf/perimeter.conf", "asa/perimeter.cfg"}
        scenario_new_flow(
            portolan, base, work, "new-host-flow",
            'role ops "Operators of the perimeter" in perimeter;\n'
            'flow ops: ops -> edge.access via sip_tls "Operators reach the Access Edge";\n',
            "ops: ops -> edge.access via sip_tls",
            'ops           = ["198.51.100.50", "2001:db8:1::50"]\n', perimeter, ["ops"])
        scenario_new_flow(
            portolan, base, work, "new-expired",
            'flow trial: msn_client -> edge.access via sip_tls "A trial" {\n'
            '  expires 2013-03-15;\n'
            '  suppress expired "the trial ended; kept to test quiet configs";\n}\n',
            "trial: msn_client -> edge.access via sip_tls", "",
            {"nftables/edge-host-today.nft"}, [])
        scenario_moved(portolan, base, work)
    if failures:
        sys.exit(f"quiet: {len(failures)} failure(s)")
    print("quiet: ok")


if __name__ == "__main__":
    main()
