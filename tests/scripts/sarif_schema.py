#!/usr/bin/env python3
"""Validates `portolan check --format sarif` against the official SARIF 2.1.0 JSON schema
(python3-jsonschema) and against what GitHub code scanning asks beyond it: a rule `name`
distinct from its `id`, a location on every result, relative file URIs that are valid URI
references under %SRCROOT%, no placeholder informationUri, tool.driver.version, each rule's
descriptions and default level.

The schema is not kept in this repository: it is taken at test time from a package of the npm
registry and cached in CACHE_DIR:
  1. @datadog/datadog-ci-plugin-sarif (pinned): its bundle holds the OASIS schema
     sarif-schema-2.1.0.json (draft-07) as an object literal, read here with node;
  2. else @microsoft/jest-sarif (pinned): lib/schemas/sarif-2.1.0-rtm.5.json (the same schema
     as published by the SARIF TC for 2.1.0 rtm.5, draft-04).
When neither can be had (offline, no npm), it prints "SKIP: schema not available (reason)" and
exits 77, which ctest reports as skipped (SKIP_RETURN_CODE), never as passed.

usage: sarif_schema.py PORTOLAN SOURCE_DIR CACHE_DIR"""
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

SKIP = 77
portolan, src, cache = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), sys.argv[3]
cache = os.path.abspath(cache)
DATADOG = "@datadog/datadog-ci-plugin-sarif@5.25.0"
JEST = "@microsoft/jest-sarif@1.0.0-beta.0"


def npm_pack(spec, into):
    """The package's tarball from the registry, unpacked into `into`; its folder or None."""
    p = subprocess.run(["npm", "pack", spec, "--silent"], cwd=into, capture_output=True,
                       text=True, timeout=300)
    name = p.stdout.strip().splitlines()[-1] if p.returncode == 0 and p.stdout.strip() else ""
    if not name or not os.path.exists(os.path.join(into, name)):
        raise RuntimeError(f"npm pack {spec} failed: {(p.stderr or p.stdout).strip()[-300:]}")
    with tarfile.open(os.path.join(into, name)) as t:
        t.extractall(os.path.join(into, "x-" + name))
    return os.path.join(into, "x-" + name, "package")


def from_datadog(tmp):
    pkg = npm_pack(DATADOG, tmp)
    text = open(os.path.join(pkg, "dist", "bundle.js"), encoding="utf-8").read()
    start = text.find("//#region src/json-schema/sarif-schema-2.1.0.json")
    if start < 0:
        raise RuntimeError("the bundle has no sarif-schema-2.1.0.json region")
    var = text.find("= {", start)
    end = text.find("\n};\n", var)
    if var < 0 or end < 0:
        raise RuntimeError("cannot find the schema object in the bundle")
    literal = os.path.join(tmp, "schema.js")
    with open(literal, "w", encoding="utf-8") as f:
        f.write("(" + text[var + 2:end + 2] + ")")
    if not shutil.which("node"):
        raise RuntimeError("node is not installed")
    # Only the object literal is evaluated: data, no code of the package runs.
    p = subprocess.run(["node", "-e", "const fs=require('fs');process.stdout.write(JSON.stringify("
                        "(0,eval)(fs.readFileSync(process.argv[1],'utf8'))))", literal],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("node could not read the schema: " + p.stderr.strip()[-300:])
    schema = json.loads(p.stdout)
    if not schema.get("$id", "").endswith("/sarif-schema-2.1.0.json"):
        raise RuntimeError("the bundled schema is not sarif-schema-2.1.0.json")
    return schema, "sarif-schema-2.1.0.json (OASIS) from " + DATADOG


def from_jest(tmp):
    pkg = npm_pack(JEST, tmp)
    path = os.path.join(pkg, "lib", "schemas", "sarif-2.1.0-rtm.5.json")
    schema = json.load(open(path, encoding="utf-8"))
    return schema, "sarif-2.1.0-rtm.5.json from " + JEST


def schema_or_skip():
    cached = os.path.join(cache, "sarif-schema-2.1.0.json")
    about = os.path.join(cache, "sarif-schema-2.1.0.source")
    if os.path.exists(cached) and os.path.exists(about):
        return json.load(open(cached, encoding="utf-8")), open(about).read().strip() + " (cached)"
    if not shutil.which("npm"):
        print("SKIP: schema not available (npm is not installed; dev.sh installs it)")
        sys.exit(SKIP)
    reasons = []
    for get in (from_datadog, from_jest):
        with tempfile.TemporaryDirectory() as tmp:
            try:
                schema, where = get(tmp)
            except Exception as e:  # offline, package changed: try the next source
                reasons.append(str(e))
                continue
        os.makedirs(cache, exist_ok=True)
        with open(cached, "w", encoding="utf-8") as f:
            json.dump(schema, f)
        with open(about, "w") as f:
            f.write(where + "\n")
        return schema, where
    print("SKIP: schema not available (" + "; ".join(reasons) + ")")
    sys.exit(SKIP)


try:
    import jsonschema
except ImportError:
    print("SKIP: schema not available (python3-jsonschema is not installed; dev.sh installs it)")
    sys.exit(SKIP)

schema, where = schema_or_skip()
validator = jsonschema.validators.validator_for(schema)(schema)
errors = []
URI_REF = re.compile(r"^[A-Za-z0-9\-._~/%]+$")  # what file_uri writes: no scheme, no space


def need(cond, what):
    if not cond:
        errors.append(what)
    return cond


def check(name, cwd, args, min_results, help_uri=None, codes=(0, 1)):
    cmd = [portolan, "check", *args, "--format", "sarif"]
    if help_uri:
        cmd += ["--sarif-help-uri", help_uri]
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if not need(p.returncode in codes, f"{name}: exit code {p.returncode}: {p.stderr}"):
        return 0
    log = json.loads(p.stdout)
    for e in sorted(validator.iter_errors(log), key=lambda e: list(e.absolute_path))[:10]:
        errors.append(f"{name}: schema: {'/'.join(map(str, e.absolute_path))}: {e.message}")
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    need(driver.get("version"), f"{name}: tool.driver.version")
    info = driver.get("informationUri")
    need(info is None or (help_uri and info == help_uri), f"{name}: informationUri {info!r}")
    bases = run.get("originalUriBaseIds", {})
    for r in driver["rules"]:
        rid = r["id"]
        need(r.get("name") and r["name"] != rid and re.fullmatch(r"[A-Z][A-Za-z0-9]*", r["name"]),
             f"{name}: rule {rid}: name {r.get('name')!r} must be PascalCase, not the id")
        for key in ("shortDescription", "fullDescription"):
            need(r.get(key, {}).get("text"), f"{name}: rule {rid}: {key}")
        need(r.get("defaultConfiguration", {}).get("level") in ("note", "warning", "error"),
             f"{name}: rule {rid}: defaultConfiguration.level")
        if help_uri:
            need(r.get("helpUri") == help_uri + "#" + rid, f"{name}: rule {rid}: helpUri")
        else:
            need("helpUri" not in r, f"{name}: rule {rid}: a helpUri nobody asked for")
    results = run["results"]
    need(len(results) >= min_results, f"{name}: {len(results)} results, expected {min_results}+")
    for i, res in enumerate(results):
        locs = res.get("locations", [])
        need(len(locs) == 1, f"{name}: results[{i}] ({res['ruleId']}) has no location")
        for loc in locs + res.get("relatedLocations", []):
            art = loc.get("physicalLocation", {}).get("artifactLocation", {"uri": ""})
            need(art.get("uriBaseId") == "%SRCROOT%" and "%SRCROOT%" in bases,
                 f"{name}: results[{i}]: uriBaseId %SRCROOT% (declared in originalUriBaseIds)")
            need(URI_REF.match(art["uri"]) and not art["uri"].startswith("/"),
                 f"{name}: results[{i}]: uri {art['uri']!r} is not a relative URI reference")
            need(not re.search(r"%(?![0-9A-F]{2})", art["uri"]),
                 f"{name}: results[{i}]: uri {art['uri']!r}: bad percent-encoding")
    return len(results)


counts = {}
# The shipped policy, from the repository root as CI runs it.
counts["shipped"] = check("shipped", src, ["--manifest", "policies/lync2013-public-im.toml"], 1,
                          help_uri="https://portolan.invalid/docs/checks.md")
# Policies of the check corpus with findings: one file alone, manifests with several targets,
# environments and related locations.
cases = os.path.join(src, "tests", "checks")
for case, n in (("shadowed-union", 1), ("one-way-hit", 1), ("redundant-earlier", 1),
                ("path-drop-chain-hit", 1), ("unenforced-envs", 1), ("broad-any-tcp", 1),
                ("expect-allow-hit", 1), ("unused-service", 1)):
    args = ["--manifest", case + ".toml"] if os.path.exists(
        os.path.join(cases, case + ".toml")) else [case + ".policy"]
    if need(os.path.exists(os.path.join(cases, case + ".policy")), f"{case}: no such case"):
        counts[case] = check(case, cases, args, n)
# A path with a space and a non-ASCII letter (percent-encoded), and a finding with no location
# of its own (placed at the policy file): a policy copied under such a folder, run from above it.
with tempfile.TemporaryDirectory() as tmp:
    odd = os.path.join(tmp, "my policies", "café")
    os.makedirs(odd)
    shutil.copy(os.path.join(cases, "shadowed-union.policy"), os.path.join(odd, "p.policy"))
    shutil.copy(os.path.join(cases, "shadowed-union.toml"), os.path.join(odd, "p.toml"))
    with open(os.path.join(odd, "p.toml"), encoding="utf-8") as f:
        text = f.read().replace("shadowed-union.policy", "p.policy")
    with open(os.path.join(odd, "p.toml"), "w", encoding="utf-8") as f:
        f.write(text)
    counts["odd path"] = check("odd path", tmp, ["--manifest", "my policies/café/p.toml"], 1)
    p = subprocess.run([portolan, "check", "--manifest", "my policies/café/p.toml", "--format",
                        "sarif"], cwd=tmp, capture_output=True, text=True)
    uris = {loc["physicalLocation"]["artifactLocation"]["uri"]
            for r in json.loads(p.stdout)["runs"][0]["results"] for loc in r.get("locations", [])}
    need(uris == {"my%20policies/caf%C3%A9/p.policy"}, f"odd path: uris {sorted(uris)}")
    # A policy named on the command line that cannot be read: a finding without a location.
    args = ["--manifest", "my policies/café/p.toml", "missing.policy"]
    counts["no location"] = check("no location", tmp, args, 1, codes=(2,))
    p = subprocess.run([portolan, "check", *args, "--format", "sarif"], cwd=tmp,
                       capture_output=True, text=True)
    res = [r for r in json.loads(p.stdout)["runs"][0]["results"] if r["ruleId"] == "unreadable"]
    locs = res[0].get("locations", []) if len(res) == 1 else []
    need(locs and locs[0].get("physicalLocation", {}).get("artifactLocation", {}).get("uri")
         == "my%20policies/caf%C3%A9/p.toml", "no location: the finding is not placed at the "
         "manifest: " + json.dumps(res))

# `portolan diff --format sarif` too: two folders, the new one widening a service.
with tempfile.TemporaryDirectory() as tmp:
    for side in ("old", "new"):
        shutil.copytree(os.path.join(src, "policies"), os.path.join(tmp, side))
    pol = os.path.join(tmp, "new", "lync2013-public-im.policy")
    with open(pol, encoding="utf-8") as f:
        text = f.read()
    need("= tcp 443;" in text, "diff: the shipped policy has no 'tcp 443' service to widen")
    with open(pol, "w", encoding="utf-8") as f:
        f.write(text.replace("= tcp 443;", "= tcp 443-444;"))
    p = subprocess.run([portolan, "diff", "--manifest", "lync2013-public-im.toml", "--format",
                        "sarif", os.path.join(tmp, "old"), os.path.join(tmp, "new")],
                       cwd=tmp, capture_output=True, text=True)
    if need(p.returncode == 0, f"diff: exit code {p.returncode}: {p.stderr}"):
        log = json.loads(p.stdout)
        for e in sorted(validator.iter_errors(log), key=lambda e: list(e.absolute_path))[:10]:
            errors.append(f"diff: schema: {'/'.join(map(str, e.absolute_path))}: {e.message}")
        n = len(log["runs"][0]["results"])
        need(n >= 1, "diff: no result for the widened service")
        counts["diff"] = n

if errors:
    print("\n".join(errors[:40]))
    sys.exit(1)
print(f"sarif schema: valid against {where}: " +
      ", ".join(f"{k} {v} results" for k, v in counts.items()))
