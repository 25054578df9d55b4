/**
 * Helpers to acknowledge individual cdk-nag findings. cdk-nag 3 names a wildcard finding after
 * the resource as it stands in the template (`<LogicalId.Arn>/bundles/*`), so the exact id is
 * computed here rather than spelled out by hand.
 */
import { CfnResource, Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

function logicalId(construct: IConstruct): string {
  const cfn = construct instanceof CfnResource ? construct : (construct.node.defaultChild as CfnResource | undefined);
  if (!cfn) throw new Error(`${construct.node.path} has no CloudFormation resource`);
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
