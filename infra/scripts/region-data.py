#!/usr/bin/env python3
"""Writes lib/generated/region-data.json: which CloudFormation resource types exist in which commercial
region, for the services this app can use, from cfn-lint's bundled per-region schemas (the
version pinned in scripts/test-infra). The synth check (lib/regions.ts), the all-regions test
and the README's region table all read that one file, so they cannot disagree.

Usage: python3 infra/scripts/region-data.py [--check]   (--check: fail when the file is stale)
"""
import importlib.metadata
import json
import os
import sys

import cfnlint

# The 34 commercial regions (CDK knows more: opt-in, GovCloud, China, ISO), pinned here.
REGIONS = [
    "af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
    "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1",
    "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2",
    "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1",
    "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
]
# The namespaces of every resource type the app can create.
NAMESPACES = (
    "AWS::CloudFormation::", "AWS::CloudWatch::", "AWS::CodeBuild::", "AWS::CodeCommit::",
    "AWS::CodeConnections::", "AWS::CodeDeploy::", "AWS::CodeStarConnections::",
    "AWS::CodeStarNotifications::", "AWS::Events::", "AWS::IAM::", "AWS::KMS::", "AWS::Lambda::",
    "AWS::Logs::", "AWS::S3::", "AWS::SecretsManager::", "AWS::SNS::", "AWS::SQS::", "AWS::SSM::",
)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "lib", "generated", "region-data.json")


def build():
    providers = os.path.join(os.path.dirname(cfnlint.__file__), "data", "schemas", "providers")
    regions = {}
    for region in REGIONS:
        path = os.path.join(providers, f"{region}.json")
        if not os.path.exists(path):
            regions[region] = None  # no data in this cfn-lint: nothing is refused there
            continue
        with open(path) as f:
            types = json.load(f)
        regions[region] = sorted(t for t in types if t.startswith(NAMESPACES))
    return {
        "source": f"cfn-lint {importlib.metadata.version('cfn-lint')} (data/schemas/providers)",
        "namespaces": [n.rstrip(":") for n in NAMESPACES],
        "regions": regions,
    }


def main():
    text = json.dumps(build(), indent=1, sort_keys=True) + "\n"
    if "--check" in sys.argv:
        with open(OUT) as f:
            if f.read() != text:
                sys.exit(f"{OUT} is stale: run python3 infra/scripts/region-data.py")
        print("region data: up to date")
        return
    with open(OUT, "w") as f:
        f.write(text)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
