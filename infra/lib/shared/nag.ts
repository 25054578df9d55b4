/**
 * Helpers to acknowledge individual findings of the scanners teams gate infrastructure on,
 * each with its reason, next to the construct it concerns: cdk-nag's (at synth) and checkov's
 * (over the synthesized templates, in scripts/test-infra). cdk-nag 3 names a wildcard finding
 * after the resource as it stands in the template (`<LogicalId.Arn>/bundles/*`), so the exact
 * id is computed here rather than spelled out by hand.
 */
import { CfnResource, Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

function cfnOf(construct: IConstruct): CfnResource {
  const cfn = construct instanceof CfnResource ? construct : (construct.node.defaultChild as CfnResource | undefined);
  if (!cfn) throw new Error(`${construct.node.path} has no CloudFormation resource`);
  return cfn;
}

function logicalId(construct: IConstruct): string {
  const cfn = cfnOf(construct);
  const stack = Stack.of(cfn);
  return stack.resolve(stack.getLogicalId(cfn)) as string;
}

/** How cdk-nag prints `Ref` of a resource. */
export function nagRef(construct: IConstruct): string {
  return `<${logicalId(construct)}>`;
}

/** How cdk-nag prints `Fn::GetAtt [resource, Arn]`. */
export function nagArn(construct: IConstruct): string {
  return `<${logicalId(construct)}.Arn>`;
}

/** Acknowledges wildcard findings (AwsSolutions-IAM5) on `scope`, each with the reason. */
export function acknowledgeWildcards(scope: IConstruct, findings: Record<string, string>): void {
  for (const [finding, reason] of Object.entries(findings)) {
    Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[${finding}]`, reason });
  }
}

interface CheckovSkip {
  readonly id: string;
  readonly comment: string;
}

/** Skips checkov checks (`CKV_AWS_…`) on `construct`'s resource, each with the reason, in the
 * resource's Metadata (`checkov.skip`), where checkov reads them and prints them as the reason
 * of the skip. */
export function skipCheckov(construct: IConstruct, reasons: Record<string, string>): void {
  const cfn = cfnOf(construct);
  const earlier = (cfn.getMetadata('checkov') as { skip?: CheckovSkip[] } | undefined)?.skip ?? [];
  const skip = [...earlier, ...Object.entries(reasons).map(([id, comment]) => ({ id, comment }))];
  cfn.addMetadata('checkov', { skip });
}
