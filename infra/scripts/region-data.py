#!/usr/bin/env python3
"""Writes lib/generated/region-data.json: per region, its partition, which services it has (from
the endpoint data that botocore ships, data/endpoints.json) and which CloudFormation resource
types exist there for the services this app can use (from cfn-lint's bundled per-region
schemas). Both sources are pinned in scripts/test-infra. The synth check (lib/regions.ts), the
all-regions test and the README's region table all read that one file, so they cannot disagree.

A service and its resource type are not the same fact: in af-south-1, say, CodeCommit answers
but CloudFormation cannot create a repository. Where cfn-lint's data for a region is a copy of
us-east-1's (it is for eusc-de-east-1), the types of the services that the endpoint data says
are absent there are removed, and the region says so.

Usage: python3 infra/scripts/region-data.py BOTOCORE_WHEEL [--check]
  BOTOCORE_WHEEL: the pinned botocore wheel (read as a zip; nothing is installed)
  --check: fail when the file is stale
"""
import importlib.metadata
import json
import os
import re
import sys
import zipfile

import cfnlint

# The 34 commercial regions (CDK knows more: opt-in, GovCloud, China, ISO), pinned here, and the
# regions of other partitions the app is tested in.
REGIONS = [
    "af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
    "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1",
    "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2",
    "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1",
    "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
    # The AWS European Sovereign Cloud (partition aws-eusc).
    "eusc-de-east-1",
]
# The namespace of every resource type the app can create, with the endpoint name of its
# service in botocore's data (None: a global service, in every region of a partition).
NAMESPACES = {
    "AWS::CloudFormation::": "cloudformation", "AWS::CloudWatch::": "monitoring",
    "AWS::CodeBuild::": "codebuild", "AWS::CodeCommit::": "codecommit",
    # CodeConnections is CodeStar Connections renamed: botocore knows it by its old name.
    "AWS::CodeConnections::": "codestar-connections", "AWS::CodeDeploy::": "codedeploy",
    "AWS::CodeStarConnections::": "codestar-connections",
    "AWS::CodeStarNotifications::": "codestar-notifications", "AWS::Events::": "events",
    "AWS::IAM::": None, "AWS::KMS::": "kms", "AWS::Lambda::": "lambda", "AWS::Logs::": "logs",
    "AWS::S3::": "s3", "AWS::SecretsManager::": "secretsmanager", "AWS::SNS::": "sns",
    "AWS::SQS::": "sqs", "AWS::SSM::": "ssm",
}
# The services shown per region (the README's table, the synth checks).
SERVICES = ["codebuild", "codecommit", "codedeploy", "codepipeline", "events", "kms", "s3", "ssm"]

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "lib", "generated", "region-data.json")


def endpoint_data(wheel):
    """botocore's endpoints.json, read from its wheel, and the wheel's version."""
    version = re.match(r"botocore-([0-9.]+)-", os.path.basename(wheel))
    if not version:
        sys.exit(f"{wheel}: not a botocore wheel (botocore-VERSION-py3-none-any.whl)")
    with zipfile.ZipFile(wheel) as z:
        return json.loads(z.read("botocore/data/endpoints.json")), version.group(1)


def services_of(endpoints):
    """region -> (partition, the endpoint names of SERVICES and NAMESPACES it has)."""
    wanted = set(SERVICES) | {s for s in NAMESPACES.values() if s}
    out = {}
    for partition in endpoints["partitions"]:
        for region in partition["regions"]:
            names = {
                name for name in wanted
                if region in partition["services"].get(name, {}).get("endpoints", {})
            }
            out[region] = (partition["partition"], names)
    return out


def types_of(region, providers, services):
    """The region's resource types of NAMESPACES (None without data), and a note when cfn-lint's
    data for it is a copy of us-east-1's, corrected by the endpoint data."""
    path = os.path.join(providers, f"{region}.json")
    if not os.path.exists(path):
        return None, None  # no data in this cfn-lint: nothing is refused there
    with open(path, "rb") as f:
        raw = f.read()
    types = sorted(t for t in json.loads(raw) if t.startswith(tuple(NAMESPACES)))
    with open(os.path.join(providers, "us-east-1.json"), "rb") as f:
        copy = region != "us-east-1" and raw == f.read()
    if not copy:
        return types, None
    absent = sorted({
        ns.rstrip(":") for ns, service in NAMESPACES.items() if service and service not in services
    })
    kept = [t for t in types if not any(t.startswith(f"{ns}::") for ns in absent)]
    return kept, (
        "cfn-lint's data for this region is a copy of us-east-1's: the types of services without "
        f"an endpoint here in botocore's data removed ({', '.join(absent)})"
    )


def build(wheel):
    endpoints, botocore_version = endpoint_data(wheel)
    by_region = services_of(endpoints)
    providers = os.path.join(os.path.dirname(cfnlint.__file__), "data", "schemas", "providers")
    regions = {}
    for region in REGIONS:
        if region not in by_region:
            sys.exit(f"{region} is not in botocore {botocore_version}'s endpoint data")
        partition, services = by_region[region]
        types, note = types_of(region, providers, services)
        regions[region] = {
            "partition": partition,
            "services": sorted(services & set(SERVICES)),
            "types": types,
        }
        if note:
            regions[region]["types_note"] = note
    return {
        "source": f"cfn-lint {importlib.metadata.version('cfn-lint')} (data/schemas/providers)",
        "services_source": f"botocore {botocore_version} (data/endpoints.json)",
        "namespaces": [n.rstrip(":") for n in NAMESPACES],
        "regions": regions,
    }


def main():
    args = [a for a in sys.argv[1:] if a != "--check"]
    if len(args) != 1:
        sys.exit(__doc__)
    text = json.dumps(build(args[0]), indent=1, sort_keys=True) + "\n"
    if "--check" in sys.argv:
        with open(OUT) as f:
            if f.read() != text:
                sys.exit(f"{OUT} is stale: run python3 infra/scripts/region-data.py {args[0]}")
        print("region data: up to date")
        return
    with open(OUT, "w") as f:
        f.write(text)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
