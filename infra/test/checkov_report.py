#!/usr/bin/env python3
"""Reads checkov's JSON report (`checkov -o json`) of the synthesized templates and fails
unless it is clean: no failed check, no template checkov could not parse, and every skip with
its reason (a `checkov.skip` entry in the resource's Metadata, written next to the construct by
lib/shared/nag.ts's skipCheckov). Prints the failures readably and the skips by check.

Usage: checkov ... -o json | python3 test/checkov_report.py
"""
import collections
import json
import sys

NO_REASON = "No comment provided"  # what checkov records for a skip without a comment


def main():
    reports = json.load(sys.stdin)
    if isinstance(reports, dict):
        reports = [reports]
    problems = []
    skips = collections.defaultdict(set)
    checked = 0
    for report in reports:
        summary = report.get("summary", {})
        checked += summary.get("resource_count", 0)
        if summary.get("parsing_errors"):
            problems.append(f"checkov could not parse {summary['parsing_errors']} template(s)")
        results = report.get("results", {})
        for failed in results.get("failed_checks", []):
            problems.append(
                f"{failed['check_id']} {failed['check_name']}: {failed['resource']} in {failed['file_path']}"
            )
        for skipped in results.get("skipped_checks", []):
            reason = skipped.get("check_result", {}).get("suppress_comment") or NO_REASON
            if reason == NO_REASON:
                problems.append(f"{skipped['check_id']} skipped without a reason: {skipped['resource']}")
            skips[skipped["check_id"]].add(reason)
    if checked == 0:
        problems.append("checkov checked no resource: were the templates passed?")
    for check_id in sorted(skips):
        for reason in sorted(skips[check_id]):
            print(f"  skipped {check_id}: {reason}")
    if problems:
        print("checkov: not clean", *problems, sep="\n  ", file=sys.stderr)
        sys.exit(1)
    print(f"checkov: clean over {checked} resources")


if __name__ == "__main__":
    main()
