#!/usr/bin/env python3
"""Throughput and memory benchmark of the bundle builder (not part of the test suite).

Generates an application archive of SIZE_MB (default 512) in many files, then times
`invisible-pipeline deploy --no-deploy` (release build) on the append path and on the
re-encode path, and reports wall time, throughput and peak memory (max RSS).

Targets: peak memory stays under 64 MiB whatever the archive size (the archive is streamed,
never held in memory), and the append path runs at disk speed (no recompression).

    python3 scripts/bench.py [SIZE_MB]
"""
import io
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_RSS_MB = 64


def make_archive(path, size_mb, collide):
    chunk = os.urandom(1 << 20)
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for i in range(size_mb):
            info = tarfile.TarInfo(f"site/data/{i:05}.bin")
            info.size = len(chunk)
            tar.addfile(info, io.BytesIO(chunk))
        if collide:
            data = b"#!/bin/bash\necho old\n"
            info = tarfile.TarInfo("scripts/start_server.sh")
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))


def run(binary, archive, out):
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.monotonic()
    subprocess.run(
        [binary, "deploy", "--no-deploy", "--app-archive", archive,
         "--codedeploy-dir", os.path.join(ROOT, "CodeDeploy_Files"), "--bundle-out", out],
        check=True, stdout=subprocess.DEVNULL,
    )
    elapsed = time.monotonic() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak, before) / 1024


def main():
    size_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 512
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    binary = os.path.join(target, "release", "invisible-pipeline")
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for name, collide in [("append", False), ("re-encode", True)]:
            archive = os.path.join(tmp, f"{name}.tar.gz")
            make_archive(archive, size_mb, collide)
            # Peak RSS of children is a running maximum: measure each path in a fresh process.
            elapsed, rss = subprocess.run(
                [sys.executable, "-c",
                 "import sys, runpy; sys.argv = sys.argv[1:]; "
                 "m = runpy.run_path(sys.argv[0]); print(*m['run'](*sys.argv[1:]))",
                 __file__, binary, archive, os.path.join(tmp, "bundle.tgz")],
                check=True, capture_output=True, text=True,
            ).stdout.split()
            elapsed, rss = float(elapsed), float(rss)
            mb_s = size_mb / elapsed
            status = "ok" if rss < MAX_RSS_MB else f"OVER {MAX_RSS_MB} MiB"
            failed |= rss >= MAX_RSS_MB
            print(f"{name:10} {size_mb} MiB in {elapsed:6.2f} s  {mb_s:7.1f} MiB/s  peak {rss:5.1f} MiB  {status}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
