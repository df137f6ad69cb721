#!/usr/bin/env python3
"""`portolan diff` on a scratch git repository: a base policy and manifest, then one commit per
known change, each diffed against the commit before it; the exact regions, witnesses and flows
of every change are asserted from the JSON output. Also: folders, the work tree, --fail-on,
filters, errors (bad revision, missing manifest, a parse error on one side), the other formats,
and that the repository's work tree and index are never touched.

usage: diff.py PORTOLAN"""
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile

PORTOLAN = os.path.abspath(sys.argv[1])
FAILED = []

POLICY = """policy site.web "A web server behind an edge firewall" {
  reference "portolan diff test";
}

zone internet;
zone dmz;

role client "Clients" in internet;
role admin "Administrators" in internet;
role web "Web server" in dmz;

service https "HTTPS" = tcp 443;
service ssh "SSH" = tcp 22;
service alt "Alternative HTTP" = tcp 8000-8001;

feature beta "Beta testers reach the server over SSH";

flow web: client -> web via https "clients browse the site";
flow web: client -> web via alt "the alternative ports";
flow ops: admin -> web via ssh "administration";
flow beta: client -> web via ssh "beta testers" when beta;
"""

MANIFEST = """policies = ["site.policy"]

[environments.prod]
today = 2026-01-01

[environments.prod.bind]
client = "192.0.2.0/24"
admin = "203.0.113.5"
web = "198.51.100.10"

[environments.stage]
today = 2026-01-01

[environments.stage.bind]
client = "192.0.2.0/24"
admin = "203.0.113.5"
web = "198.51.100.20"

[[targets]]
name = "web-host"
backend = "nftables"
env = "prod"
host = "web"
output = "web.nft"

[[targets]]
name = "edge"
backend = "nftables"
env = "prod"
between = ["internet", "dmz"]
output = "edge.nft"

[[targets]]
name = "stage-host"
backend = "nftables"
env = "stage"
host = "web"
output = "stage.nft"
"""

ADMIN_HOST = """
[[targets]]
name = "admin-host"
backend = "nftables"
env = "prod"
host = "admin"
output = "admin.nft"
"""

HTTPS = "site.policy:18:1 web: client -> web via https"
ALT = "site.policy:19:1 web: client -> web via alt"
OPS = "site.policy:20:1 ops: admin -> web via ssh"
BETA = "site.policy:21:1 beta: client -> web via ssh"
BLOCK = "site.policy:23:1 deny block: scanner -> web via https"
PING = "site.policy:26:1 ping: admin -> web via ping"


def check(name, cond, detail=""):
    if not cond:
        FAILED.append(name)
        print(f"FAIL {name}{': ' + detail if detail else ''}")
    else:
        print(f"ok   {name}")


def git(repo, *args):
    subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True)


def write(repo, name, text):
    with open(os.path.join(repo, name), "w") as f:
        f.write(text)


def read(repo, name):
    with open(os.path.join(repo, name)) as f:
        return f.read()


def replace(repo, name, old, new):
    text = read(repo, name)
    assert old in text, (name, old)
    write(repo, name, text.replace(old, new, 1))


def commit(repo, tag):
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", tag)
    git(repo, "tag", tag)


def run(repo, *args):
    return subprocess.run([PORTOLAN, "diff", *args], cwd=repo, capture_output=True, text=True)


def flow(f):
    return None if f is None else f"{f['file']}:{f['line']}:{f['column']} {f['flow']}"


def regions(doc):
    """Each region as (target, change, chain, region, witness, old flow, new flow)."""
    return [(t["name"], r["change"], r["chain"], r["region"], r["witness"], flow(r["old"]),
             flow(r["new"])) for t in doc["targets"] for r in t["regions"]]


def statuses(doc):
    return {t["name"]: t["status"] for t in doc["targets"]}


def text_only(doc):
    return [(c["kind"], c["name"], c["changed"]) for c in doc["no_packet_change"]]


def diff_json(repo, *args):
    p = run(repo, "--format", "json", *args)
    if p.returncode != 0:
        print(p.stderr)
        return None
    return json.loads(p.stdout)


def expect_case(repo, name, args, want_regions, want_status=None, want_text=None):
    doc = diff_json(repo, *args)
    if doc is None:
        check(name, False, "diff failed")
        return None
    got = regions(doc)
    check(f"{name}: regions", got == want_regions,
          "\n  got:  " + "\n        ".join(map(str, got)) + "\n  want: " +
          "\n        ".join(map(str, want_regions)))
    if want_status is not None:
        got_s = statuses(doc)
        check(f"{name}: target status", got_s == want_status, f"got {got_s}")
    if want_text is not None:
        got_t = text_only(doc)
        check(f"{name}: no packet change", got_t == want_text, f"got {got_t}")
    return doc


def export(repo, rev, into):
    data = subprocess.run(["git", "-C", repo, "archive", "--format=tar", rev], check=True,
                          capture_output=True).stdout
    os.makedirs(into)
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        t.extractall(into)


def main():
    tmp = tempfile.mkdtemp(prefix="portolan-diff-test-")
    repo = os.path.join(tmp, "repo")
    os.makedirs(repo)
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "test@example.invalid")
    git(repo, "config", "user.name", "test")
    write(repo, "site.policy", POLICY)
    write(repo, "portolan.toml", MANIFEST)
    commit(repo, "c0")

    # 1. A widened port range: 8002-8003 opened wherever the alt flow is enforced.
    replace(repo, "site.policy", "tcp 8000-8001", "tcp 8000-8003")
    commit(repo, "c1")
    # 2. A new deny: the scanner's HTTPS closed (old: the https allow; new: the deny).
    write(repo, "site.policy", read(repo, "site.policy") +
          'role scanner "A known scanner" in internet;\n'
          'flow deny block: scanner -> web via https "a known scanner";\n')
    replace(repo, "portolan.toml", 'admin = "203.0.113.5"\nweb = "198.51.100.10"',
            'admin = "203.0.113.5"\nweb = "198.51.100.10"\nscanner = "192.0.2.66"')
    replace(repo, "portolan.toml", 'web = "198.51.100.20"',
            'web = "198.51.100.20"\nscanner = "192.0.2.66"')
    commit(repo, "c2")
    # 3. A moved binding: the administrator's address in prod.
    replace(repo, "portolan.toml", 'admin = "203.0.113.5"\nweb = "198.51.100.10"',
            'admin = "203.0.113.6"\nweb = "198.51.100.10"')
    commit(repo, "c3")
    # 4. A feature switched on in one environment.
    replace(repo, "portolan.toml", "[environments.stage]\ntoday = 2026-01-01",
            '[environments.stage]\ntoday = 2026-01-01\nfeatures = ["beta"]')
    commit(repo, "c4")
    # 5. An expiry date: in the future of the environments' today, past as of --today.
    replace(repo, "site.policy", '"administration";', '"administration" { expires 2026-06-01; }')
    commit(repo, "c5")
    # 6. A target added.
    write(repo, "portolan.toml", read(repo, "portolan.toml") + ADMIN_HOST)
    commit(repo, "c6")
    # 7. A target retargeted (another backend) and one removed.
    write(repo, "portolan.toml", read(repo, "portolan.toml").replace(ADMIN_HOST, "").replace(
        'name = "edge"\nbackend = "nftables"', 'name = "edge"\nbackend = "iptables"'))
    commit(repo, "c7")
    # 8. Text only: a flow's note and a service's label.
    replace(repo, "site.policy", "clients browse the site", "clients browse the shop")
    replace(repo, "site.policy", 'https "HTTPS"', 'https "HTTP over TLS"')
    commit(repo, "c8")
    # 9. A flow added that changes no packet (another flow already allows them).
    write(repo, "site.policy", read(repo, "site.policy") +
          'flow web: client -> web via https "said twice";\n')
    commit(repo, "c9")
    # 10. ICMP and IPv6: echo requests from the administrators; IPv6 addresses in prod.
    write(repo, "site.policy", read(repo, "site.policy") +
          'service ping "Echo" = icmp type 8, icmpv6 type 128;\n'
          'flow ping: admin -> web via ping;\n')
    replace(repo, "portolan.toml", 'admin = "203.0.113.6"\nweb = "198.51.100.10"',
            'admin = ["203.0.113.6", "2001:db8:a::6"]\nweb = ["198.51.100.10", "2001:db8:1::10"]')
    commit(repo, "c10")
    # 11. A service added to a flow, whose packets another flow already allows.
    replace(repo, "site.policy", "beta: client -> web via ssh", "beta: client -> web via ssh, alt")
    commit(repo, "c11")

    index = os.path.join(repo, ".git", "index")
    index_before = os.stat(index).st_mtime_ns

    three = {"web-host": "changed", "edge": "changed", "stage-host": "changed"}
    expect_case(repo, "widened port range", ["c0", "c1"], [
        ("web-host", "opened", "input", "src 192.0.2.0/24 dst 198.51.100.10/32 proto tcp dport 8002-8003",
         "tcp 192.0.2.1 port 49152 -> 198.51.100.10 port 8002", None, ALT),
        ("edge", "opened", "forward", "src 192.0.2.0/24 dst 198.51.100.10/32 proto tcp dport 8002-8003",
         "tcp 192.0.2.1 port 49152 -> 198.51.100.10 port 8002", None, ALT),
        ("stage-host", "opened", "input", "src 192.0.2.0/24 dst 198.51.100.20/32 proto tcp dport 8002-8003",
         "tcp 192.0.2.1 port 49152 -> 198.51.100.20 port 8002", None, ALT),
    ], three, [])
    expect_case(repo, "new deny", ["c1", "c2"], [
        ("web-host", "closed", "input", "src 192.0.2.66/32 dst 198.51.100.10/32 proto tcp dport 443",
         "tcp 192.0.2.66 port 49152 -> 198.51.100.10 port 443", HTTPS, BLOCK),
        ("edge", "closed", "forward", "src 192.0.2.66/32 dst 198.51.100.10/32 proto tcp dport 443",
         "tcp 192.0.2.66 port 49152 -> 198.51.100.10 port 443", HTTPS, BLOCK),
        ("stage-host", "closed", "input", "src 192.0.2.66/32 dst 198.51.100.20/32 proto tcp dport 443",
         "tcp 192.0.2.66 port 49152 -> 198.51.100.20 port 443", HTTPS, BLOCK),
    ], three, [])
    expect_case(repo, "moved binding", ["c2", "c3"], [
        ("web-host", "opened", "input", "src 203.0.113.6/32 dst 198.51.100.10/32 proto tcp dport 22",
         "tcp 203.0.113.6 port 49152 -> 198.51.100.10 port 22", None, OPS),
        ("web-host", "closed", "input", "src 203.0.113.5/32 dst 198.51.100.10/32 proto tcp dport 22",
         "tcp 203.0.113.5 port 49152 -> 198.51.100.10 port 22", OPS, None),
        ("edge", "opened", "forward", "src 203.0.113.6/32 dst 198.51.100.10/32 proto tcp dport 22",
         "tcp 203.0.113.6 port 49152 -> 198.51.100.10 port 22", None, OPS),
        ("edge", "closed", "forward", "src 203.0.113.5/32 dst 198.51.100.10/32 proto tcp dport 22",
         "tcp 203.0.113.5 port 49152 -> 198.51.100.10 port 22", OPS, None),
    ], {"web-host": "changed", "edge": "changed", "stage-host": "unchanged"}, [])
    expect_case(repo, "feature switched on", ["c3", "c4"], [
        ("stage-host", "opened", "input", "src 192.0.2.0/24 dst 198.51.100.20/32 proto tcp dport 22",
         "tcp 192.0.2.1 port 49152 -> 198.51.100.20 port 22", None, BETA),
    ], {"web-host": "unchanged", "edge": "unchanged", "stage-host": "changed"}, [])
    expect_case(repo, "expiry not yet passed", ["c4", "c5"], [],
                {"web-host": "unchanged", "edge": "unchanged", "stage-host": "unchanged"},
                [("flow", "ops: admin -> web via ssh", ["expires"])])
    expect_case(repo, "expiry passed (--today)", ["--today", "2026-07-01", "c4", "c5"], [
        ("web-host", "closed", "input", "src 203.0.113.6/32 dst 198.51.100.10/32 proto tcp dport 22",
         "tcp 203.0.113.6 port 49152 -> 198.51.100.10 port 22", OPS, None),
        ("edge", "closed", "forward", "src 203.0.113.6/32 dst 198.51.100.10/32 proto tcp dport 22",
         "tcp 203.0.113.6 port 49152 -> 198.51.100.10 port 22", OPS, None),
        ("stage-host", "closed", "input", "src 203.0.113.5/32 dst 198.51.100.20/32 proto tcp dport 22",
         "tcp 203.0.113.5 port 49152 -> 198.51.100.20 port 22", OPS, None),
    ], three, [])
    expect_case(repo, "target added", ["c5", "c6"], [
        ("admin-host", "opened", "output", "src 203.0.113.6/32 dst 198.51.100.10/32 proto tcp dport 22",
         "tcp 203.0.113.6 port 49152 -> 198.51.100.10 port 22", None, OPS),
    ], {"web-host": "unchanged", "edge": "unchanged", "stage-host": "unchanged",
        "admin-host": "added"}, [])
    doc = expect_case(repo, "target retargeted and removed", ["c6", "c7"], [
        ("admin-host", "closed", "output", "src 203.0.113.6/32 dst 198.51.100.10/32 proto tcp dport 22",
         "tcp 203.0.113.6 port 49152 -> 198.51.100.10 port 22", OPS, None),
    ], {"web-host": "unchanged", "edge": "retargeted", "stage-host": "unchanged",
        "admin-host": "removed"}, [])
    if doc:
        edge = [t for t in doc["targets"] if t["name"] == "edge"][0]
        check("retargeted: what changed", edge["retargeted"] == ["backend: nftables -> iptables"],
              str(edge["retargeted"]))
    note_only = [("flow", "web: client -> web via https", ["note"]), ("service", "https", ["label"])]
    expect_case(repo, "note-only change", ["c7", "c8"], [],
                {"web-host": "unchanged", "edge": "unchanged", "stage-host": "unchanged"},
                note_only)
    # --today applies to both sides: the ops flow has expired on both, so nothing changes.
    expect_case(repo, "note-only change (--today on both sides)",
                ["--today", "2026-07-01", "c7", "c8"], [],
                {"web-host": "unchanged", "edge": "unchanged", "stage-host": "unchanged"},
                note_only)

    expect_case(repo, "flow added without a packet change", ["c8", "c9"], [],
                {"web-host": "unchanged", "edge": "unchanged", "stage-host": "unchanged"},
                [("flow", "web: client -> web via https", ["added"])])

    def icmp_v6(target, chain):
        return [
            (target, "opened", chain, "src 203.0.113.6/32 dst 198.51.100.10/32 proto icmp type 8",
             "icmp 203.0.113.6 -> 198.51.100.10 type 8 code 0", None, PING),
            (target, "opened", chain,
             "src 2001:db8:a::6/128 dst 2001:db8:1::10/128 proto tcp dport 22",
             "tcp 2001:db8:a::6 port 49152 -> 2001:db8:1::10 port 22", None, OPS),
            (target, "opened", chain,
             "src 2001:db8:a::6/128 dst 2001:db8:1::10/128 proto icmpv6 type 128",
             "icmpv6 2001:db8:a::6 -> 2001:db8:1::10 type 128 code 0", None, PING)]
    doc = expect_case(repo, "ICMP and IPv6", ["c9", "c10"], icmp_v6("web-host", "input") +
                      icmp_v6("edge", "forward") + [
        ("stage-host", "opened", "input", "src 203.0.113.5/32 dst 198.51.100.20/32 proto icmp type 8",
         "icmp 203.0.113.5 -> 198.51.100.20 type 8 code 0", None, PING)], three, [])
    if doc:
        r = doc["targets"][0]["regions"][0]
        check("ICMP region in JSON", r["family"] == "ipv4" and r["proto"] == ["icmp"] and
              r["type"] == ["8"] and "code" not in r and "dport" not in r, str(r))

    expect_case(repo, "services changed, packets already allowed", ["c10", "c11"], [],
                {"web-host": "unchanged", "edge": "unchanged", "stage-host": "unchanged"},
                [("flow", "beta: client -> web via ssh, alt", ["services"])])

    # Folder against folder: the same answer as the two revisions.
    export(repo, "c0", os.path.join(tmp, "old"))
    export(repo, "c1", os.path.join(tmp, "new"))
    a = diff_json(repo, "c0", "c1")
    b = diff_json(tmp, "old", "new")
    check("folder vs folder", a is not None and b is not None and regions(a) == regions(b)
          and b["old"]["commit"] is None and b["old"]["label"] == "old",
          "" if b is None else str(regions(b)))

    # Filters.
    doc = diff_json(repo, "--target", "edge", "c0", "c1")
    check("--target", doc is not None and [t["name"] for t in doc["targets"]] == ["edge"])
    doc = diff_json(repo, "--env", "stage", "c0", "c1")
    check("--env", doc is not None and [t["name"] for t in doc["targets"]] == ["stage-host"])
    p = run(repo, "--target", "nope", "c0", "c1")
    check("--target unknown: exit 2", p.returncode == 2 and "neither side has a target 'nope'" in p.stderr,
          p.stderr)

    # Exit codes.
    for args, want in [(["--fail-on", "opened", "c0", "c1"], 1),
                       (["--fail-on", "closed", "c0", "c1"], 0),
                       (["--fail-on", "closed", "c1", "c2"], 1),
                       (["--fail-on", "any", "c1", "c2"], 1),
                       (["--fail-on", "any", "c7", "c8"], 0),
                       (["--fail-on", "any", "c5", "c6"], 1),
                       (["c0", "c1"], 0),
                       (["--fail-on", "never", "c0", "c1"], 0)]:
        p = run(repo, *args)
        check(f"exit {want}: {' '.join(args)}", p.returncode == want,
              f"got {p.returncode}: {p.stderr}")

    # Errors: exit 2 with a clear message.
    p = run(repo, "nosuchrev", "c1")
    check("bad revision", p.returncode == 2 and
          "OLD 'nosuchrev' is neither a folder nor a git revision" in p.stderr, p.stderr)
    p = run(repo, "--manifest", "nope.toml", "c0", "c1")
    check("missing manifest", p.returncode == 2 and "has no manifest 'nope.toml'" in p.stderr,
          p.stderr)
    p = run(repo, "--format", "yaml", "c0", "c1")
    check("bad format", p.returncode == 2 and "--format is" in p.stderr, p.stderr)

    # SARIF: one result per region, at the responsible flow.
    p = run(repo, "--format", "sarif", "c2", "c3")
    s = json.loads(p.stdout) if p.returncode == 0 else None
    res = s["runs"][0]["results"] if s else []
    got = [(r["ruleId"], r["level"],
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in res]
    want = [("diff-opened", "warning", "site.policy", 20), ("diff-closed", "note", "site.policy", 20)] * 2
    check("sarif", s is not None and s["version"] == "2.1.0" and got == want, str(got))

    # Deterministic, and nothing of the temporary trees leaks into the output.
    runs = [run(repo, "--format", f, "c0", "c10").stdout for f in ("json", "json", "sarif", "text")]
    check("deterministic output", runs[0] == runs[1] and runs[0] != "", "two runs differ")
    check("no temporary paths in the output",
          all("portolan-diff-" not in r and tempfile.gettempdir() + "/" not in r for r in runs))
    # A long Markdown diff folds each target's regions.
    p = run(repo, "--format", "markdown", "c0", "c10")
    check("markdown folds a long diff", p.returncode == 0 and "<details><summary>" in p.stdout
          and "</details>" in p.stdout, p.stdout[:400])

    # Markdown: the summary table, then the regions.
    p = run(repo, "--format", "markdown", "c2", "c3")
    check("markdown", p.returncode == 0 and
          "| target | env | status | opened | closed |" in p.stdout and
          "| `web-host` | `prod` | changed | 1 | 1 |" in p.stdout and
          "`src 203.0.113.6/32 dst 198.51.100.10/32 proto tcp dport 22`" in p.stdout, p.stdout)
    p = run(repo, "c2", "c3")
    check("text", p.returncode == 0 and
          "  closed input: src 203.0.113.5/32 dst 198.51.100.10/32 proto tcp dport 22\n"
          "    witness: tcp 203.0.113.5 port 49152 -> 198.51.100.10 port 22\n"
          "    old: " + OPS + "\n"
          "    new: default deny (no flow matches)\n" in p.stdout, p.stdout)

    # The repository was only read.
    index_after = os.stat(index).st_mtime_ns  # before `git status`, which may refresh it
    st = subprocess.run(["git", "-C", repo, "status", "--porcelain"], capture_output=True,
                        text=True).stdout
    check("work tree and index untouched", st == "" and index_after == index_before, st)

    # An import that climbs out of a revision's tree is refused, even where it would find a file
    # (here one beside the temporary tree the revision is read into).
    write(repo, "lib.policy", 'service dns "DNS" = udp 53;\n')
    write(repo, "site.policy", 'import "../tree/lib.policy";\n' + read(repo, "site.policy"))
    commit(repo, "c12")
    p = run(repo, "c11", "c12")
    check("import outside the revision's tree", p.returncode == 2 and
          "outside the revision's tree" in p.stderr, p.stderr)
    git(repo, "reset", "-q", "--hard", "c11")

    # NEW defaults to the work tree.
    replace(repo, "site.policy", "tcp 8000-8003", "tcp 8000-8004")
    doc = diff_json(repo, "c11")
    check("work tree as NEW", doc is not None and doc["new"]["label"] == "work tree" and
          [r[3] for r in regions(doc)][0] ==
          "src 192.0.2.0/24 dst 198.51.100.10/32 proto tcp dport 8004", str(doc and regions(doc)))
    # A parse error on one side: exit 2, the diagnostic at that side's path:line:col.
    replace(repo, "site.policy", "flow ops: admin -> web via ssh", "flow ops: admin -> web vía ssh")
    p = run(repo, "c11")
    check("parse error on NEW", p.returncode == 2 and "NEW (work tree) does not load" in p.stderr
          and "site.policy:20:" in p.stderr, p.stderr)
    git(repo, "checkout", "-q", "--", "site.policy")

    if FAILED:
        print(f"{len(FAILED)} failed: {', '.join(FAILED)}")
        print(f"scratch repository kept in {tmp}")
        return 1
    subprocess.run(["rm", "-rf", tmp])
    print("all diff cases passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
