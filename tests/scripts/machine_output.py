#!/usr/bin/env python3
"""Validates `portolan check --format sarif` against the structure SARIF 2.1.0 requires (and
GitHub code scanning reads), and `--format json` against the schema in docs/checks.md.
Uses only the standard library. usage: machine_output.py PORTOLAN MANIFEST MIN_FINDINGS"""
import json
import subprocess
import sys

portolan, manifest, min_findings = sys.argv[1], sys.argv[2], int(sys.argv[3])
LEVELS = {"none", "note", "warning", "error"}
errors = []


def need(cond, what):
    if not cond:
        errors.append(what)
    return cond


def run(fmt):
    p = subprocess.run([portolan, "check", "--manifest", manifest, "--format", fmt],
                       capture_output=True, text=True)
    need(p.returncode in (0, 1), f"{fmt}: exit code {p.returncode}")
    return json.loads(p.stdout)


# --- SARIF 2.1.0
log = run("sarif")
need(log.get("version") == "2.1.0", "sarif: version must be 2.1.0")
need("sarif-2.1.0" in log.get("$schema", ""), "sarif: $schema must name 2.1.0")
runs = log.get("runs")
if need(isinstance(runs, list) and len(runs) == 1, "sarif: exactly one run"):
    driver = runs[0]["tool"]["driver"]
    need(isinstance(driver.get("name"), str) and driver["name"], "sarif: tool.driver.name")
    rules = driver.get("rules", [])
    need(len(rules) > 0, "sarif: tool.driver.rules is empty")
    ids = [r.get("id") for r in rules]
    need(len(ids) == len(set(ids)), "sarif: rule ids are not unique")
    for r in rules:
        for key in ("shortDescription", "fullDescription", "help"):
            need(isinstance(r.get(key, {}).get("text"), str) and r[key]["text"],
                 f"sarif: rule {r.get('id')} lacks {key}.text")
        need(r.get("defaultConfiguration", {}).get("level") in LEVELS,
             f"sarif: rule {r.get('id')} has no valid default level")
    results = runs[0].get("results")
    need(isinstance(results, list), "sarif: results must be an array")
    need(len(results) >= min_findings, f"sarif: expected at least {min_findings} results")
    for i, res in enumerate(results):
        where = f"sarif: results[{i}]"
        rid = res.get("ruleId")
        need(rid in ids, f"{where}: ruleId {rid!r} is not a rule")
        if "ruleIndex" in res:
            need(ids[res["ruleIndex"]] == rid, f"{where}: ruleIndex does not point at ruleId")
        need(res.get("level") in LEVELS, f"{where}: level")
        need(isinstance(res.get("message", {}).get("text"), str), f"{where}: message.text")
        for loc in res.get("locations", []) + res.get("relatedLocations", []):
            pl = loc.get("physicalLocation", {})
            need(isinstance(pl.get("artifactLocation", {}).get("uri"), str), f"{where}: uri")
            reg = pl.get("region", {})
            need(reg.get("startLine", 0) >= 1, f"{where}: region.startLine >= 1")
            need(reg.get("startColumn", 0) >= 1, f"{where}: region.startColumn >= 1")
            need(reg.get("endColumn", 0) > reg.get("startColumn", 0), f"{where}: endColumn")
        need(len(res.get("locations", [])) == 1, f"{where}: one primary location")
        rel = [r.get("id") for r in res.get("relatedLocations", [])]
        need(len(rel) == len(set(rel)), f"{where}: relatedLocations ids unique")

# --- JSON (docs/checks.md)
doc = run("json")
need(doc.get("version") == 1, "json: version 1")
need(doc.get("tool", {}).get("name") == "portolan", "json: tool.name")
summary = doc.get("summary", {})
findings = doc.get("findings", [])
need(len(findings) >= min_findings, "json: findings")
for sev in ("errors", "warnings", "notes"):
    need(isinstance(summary.get(sev), int), f"json: summary.{sev}")
need(sum(summary.get(s, 0) for s in ("errors", "warnings", "notes")) == len(findings),
     "json: summary counts do not add up")
for i, f in enumerate(findings):
    need(set(f) == {"code", "severity", "message", "location", "related", "witness"},
         f"json: findings[{i}] keys {sorted(f)}")
    need(f["severity"] in ("error", "warning", "note"), f"json: findings[{i}].severity")
    loc = f["location"]
    if loc is not None:
        need(set(loc) == {"file", "line", "column", "length"}, f"json: findings[{i}].location")
    need(f["witness"] is None or isinstance(f["witness"], str), f"json: findings[{i}].witness")

if errors:
    print("\n".join(errors))
    sys.exit(1)
print(f"machine output: SARIF and JSON valid ({len(findings)} findings)")
