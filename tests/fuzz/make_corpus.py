#!/usr/bin/env python3
"""Seed corpora from the files under tests/ and policies/: every policy for the policy harness;
for the manifest harness every manifest with its policies (imports inlined, since the harness
reads no file) before a NUL byte, and every manifest alone (read against the harness's fixed
policy). usage: make_corpus.py SOURCE_DIR policy|manifest OUT_DIR"""
import hashlib
import os
import re
import sys
import tomllib

src, harness, out = sys.argv[1:4]
os.makedirs(out, exist_ok=True)


def files(ext):
    for top in ("tests", "policies"):
        for root, _, names in os.walk(os.path.join(src, top)):
            for n in sorted(names):
                if n.endswith(ext):
                    yield os.path.join(root, n)


def inlined(path, seen):
    """The policy's text with every import replaced by the imported file's text."""
    path = os.path.normpath(path)
    if path in seen or not os.path.isfile(path):
        return b""
    seen.add(path)
    text = open(path, "rb").read()
    parts = []
    for line in text.split(b"\n"):
        m = re.match(rb'\s*import\s+"([^"]*)"\s*;', line)
        if m:
            parts.append(inlined(os.path.join(os.path.dirname(path), m.group(1).decode()), seen))
        else:
            parts.append(line + b"\n")
    return b"".join(parts)


def put(data):
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)


if harness == "policy":
    for p in files(".policy"):
        put(open(p, "rb").read())
else:
    for m in files(".toml"):
        raw = open(m, "rb").read()
        put(raw)
        try:
            policies = tomllib.loads(raw.decode()).get("policies", [])
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, AttributeError):
            continue
        if isinstance(policies, list):
            text, seen = b"", set()
            for p in policies:
                if isinstance(p, str):
                    text += inlined(os.path.join(os.path.dirname(m), p), seen)
            if text:
                put(text + b"\0" + raw)
