#!/usr/bin/env python3
"""Checks META.json (PGXN Meta spec 1.0.0): valid JSON with the required keys.

Usage: python3 scripts/check_meta.py [META.json]   (scripts/test.sh runs it)
Prints each problem and exits 1 if there is any.
"""
import json
import re
import sys

path = sys.argv[1] if len(sys.argv) > 1 else "META.json"
problems = []
try:
    with open(path, encoding="utf-8") as f:
        meta = json.load(f)
except (OSError, ValueError) as e:
    print(f"{path}: not valid JSON: {e}")
    sys.exit(1)

SEMVER = re.compile(r"^\d+\.\d+\.\d+$")


def need(obj, key, where, kind=str):
    if not isinstance(obj, dict) or key not in obj:
        problems.append(f"{where}: missing {key!r}")
        return None
    if not isinstance(obj[key], kind):
        problems.append(f"{where}.{key}: expected {kind.__name__}")
        return None
    return obj[key]


if not isinstance(meta, dict):
    print(f"{path}: the top level must be an object")
    sys.exit(1)
if need(meta, "name", "META") not in (None, "querycache"):
    problems.append("META.name: expected 'querycache'")
need(meta, "abstract", "META")
version = need(meta, "version", "META")
if version is not None and not SEMVER.match(version):
    problems.append(f"META.version: {version!r} is not a semantic version")
if need(meta, "license", "META") not in (None, "postgresql"):
    problems.append("META.license: expected 'postgresql'")
maint = meta.get("maintainer")
if not (isinstance(maint, str) and maint or
        isinstance(maint, list) and maint and all(isinstance(m, str) and m for m in maint)):
    problems.append("META.maintainer: expected a non-empty string or list of strings")
spec = need(meta, "meta-spec", "META", dict)
if spec is not None and spec.get("version") != "1.0.0":
    problems.append("META.meta-spec.version: expected '1.0.0'")
provides = need(meta, "provides", "META", dict)
if provides is not None:
    ext = need(provides, "querycache", "META.provides", dict)
    if ext is not None:
        need(ext, "file", "META.provides.querycache")
        v = need(ext, "version", "META.provides.querycache")
        if v is not None and v != version:
            problems.append(f"META.provides.querycache.version {v!r} differs from META.version {version!r}")
prereqs = need(meta, "prereqs", "META", dict)
if prereqs is not None:
    req = prereqs.get("runtime", {}).get("requires", {})
    pg = req.get("PostgreSQL") if isinstance(req, dict) else None
    if not isinstance(pg, str) or not SEMVER.match(pg) or int(pg.split(".")[0]) < 15:
        problems.append("META.prereqs.runtime.requires.PostgreSQL: expected a version >= 15.0.0")

for p in problems:
    print(f"{path}: {p}")
if problems:
    sys.exit(1)
print(f"{path}: ok ({meta['name']} {version}, PostgreSQL >= {prereqs['runtime']['requires']['PostgreSQL']})")
