/**
 * An EC2 blue/green deployment group (deployment_style blue_green), made through the CodeDeploy
 * API by a custom resource: the CloudFormation reference of AWS::CodeDeploy::DeploymentGroup says
 * of DeploymentStyle "For blue/green deployments, AWS CloudFormation supports deployments on Lambda
 * compute platforms only"
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-codedeploy-deploymentgroup.html),
 * and the CDK's ServerDeploymentGroup cannot configure blue/green (aws-cdk #30555).
 *
 * The handler (blue-green-group/index.js) calls CreateDeploymentGroup, UpdateDeploymentGroup
 * (a renamed group is renamed, not replaced; a copied Auto Scaling group CodeDeploy switched the
 * group to is kept) and DeleteDeploymentGroup, with the group as CreateDeploymentGroup takes it
 * (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_CreateDeploymentGroup.html).
 * Its role may call those (and GetDeploymentGroup) on this application's groups, and pass the
 * service role to CodeDeploy; nothing else.
 *
 * The service role: AWSCodeDeployRole, the policy CodeDeploy documents for EC2/on-premises
 * groups (Auto Scaling groups and lifecycle hooks, instance termination, Elastic Load Balancing
 * registration: https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSCodeDeployRole.html),
 * and, when CodeDeploy copies the Auto Scaling group, the three rights the user guide adds for a
 * group made with a launch template ("If you create your Auto Scaling group with a launch template,
 * you must add the following permissions: ec2:RunInstances, ec2:CreateTags, iam:PassRole",
 * https://docs.aws.amazon.com/codedeploy/latest/userguide/getting-started-create-service-role.html):
 * RunInstances and CreateTags (at launch only) in the pipeline's account and region, PassRole of
 * the stack's instance role to EC2 only.
 */
import { Aws, CfnResource, CustomResource, CustomResourceProvider, CustomResourceProviderRuntime, Stack, Validations } from 'aws-cdk-lib';
import type * as codedeploy from 'aws-cdk-lib/aws-codedeploy';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct, type IDependable } from 'constructs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BlueGreen, Fleet } from '../config.js';
import { acknowledgeWildcards, nagRef, skipCheckov } from '../shared/nag.js';

/** The handler's folder: CommonJS for the Lambda runtime, with its own package.json. */
export const HANDLER_DIR = join(dirname(fileURLToPath(import.meta.url)), 'blue-green-group');

/** The custom resource type, and the id of the stack's one provider of it. */
export const RESOURCE_TYPE = 'Custom::InvisiblePipelineBlueGreenGroup';
/** CustomResourceProvider.getOrCreateProvider's unique id; the construct is `<id>CustomResourceProvider`. */
const PROVIDER_ID = 'InvisiblePipelineBlueGreenGroup';

/** An EC2 tag filter as CodeDeploy's API spells it (EC2TagFilter: Key, Value, Type). */
interface ApiTag {
  readonly Key: string;
  readonly Value: string;
  readonly Type: 'KEY_AND_VALUE';
}

/** The group as CreateDeploymentGroup takes it (the resource's Group property, as JSON). */
export interface BlueGreenGroupRequest {
  readonly applicationName: string;
  readonly deploymentGroupName: string;
  readonly serviceRoleArn: string;
  readonly deploymentConfigName: string;
  readonly autoScalingGroups: string[];
  readonly ec2TagSet?: { readonly ec2TagSetList: ApiTag[][] };
  readonly loadBalancerInfo: { readonly targetGroupInfoList: { name: string }[]; readonly elbInfoList: { name: string }[] };
  readonly deploymentStyle: { readonly deploymentType: 'BLUE_GREEN'; readonly deploymentOption: 'WITH_TRAFFIC_CONTROL' };
  readonly blueGreenDeploymentConfiguration: {
    readonly greenFleetProvisioningOption: { readonly action: 'COPY_AUTO_SCALING_GROUP' | 'DISCOVER_EXISTING' };
    readonly deploymentReadyOption: { readonly actionOnTimeout: 'CONTINUE_DEPLOYMENT' | 'STOP_DEPLOYMENT'; readonly waitTimeInMinutes?: number };
    readonly terminateBlueInstancesOnDeploymentSuccess: { readonly action: 'TERMINATE' | 'KEEP_ALIVE'; readonly terminationWaitTimeInMinutes?: number };
  };
  readonly autoRollbackConfiguration: { readonly enabled: boolean; readonly events: string[] };
  /** With alarms only: the group's alarms, enabled, their state required (CodeDeploy's AlarmConfiguration). */
  readonly alarmConfiguration?: { readonly enabled: true; readonly alarms: { name: string }[]; readonly ignorePollAlarmFailure: false };
}

/** CodeDeploy's BlueGreenDeploymentConfiguration of the settings (API reference:
 * DeploymentReadyOption, GreenFleetProvisioningOption, BlueInstanceTerminationOption). */
export function blueGreenConfiguration(b: BlueGreen): BlueGreenGroupRequest['blueGreenDeploymentConfiguration'] {
  return {
    greenFleetProvisioningOption: { action: b.greenFleet === 'copy_auto_scaling_group' ? 'COPY_AUTO_SCALING_GROUP' : 'DISCOVER_EXISTING' },
    deploymentReadyOption:
      b.trafficReroute === 'continue'
        ? { actionOnTimeout: 'CONTINUE_DEPLOYMENT' }
        : { actionOnTimeout: 'STOP_DEPLOYMENT', waitTimeInMinutes: b.trafficRerouteWaitMinutes },
    terminateBlueInstancesOnDeploymentSuccess:
      b.blueInstances === 'terminate'
        ? { action: 'TERMINATE', terminationWaitTimeInMinutes: b.blueTerminationWaitMinutes }
        : { action: 'KEEP_ALIVE' },
  };
}

export interface BlueGreenGroupProps {
  readonly application: codedeploy.IServerApplication;
  readonly deploymentGroupName: string;
  readonly deploymentConfig: codedeploy.IServerDeploymentConfig;
  /** The fleet, with its blue/green settings. */
  readonly fleet: Fleet & { readonly blueGreen: BlueGreen };
  /** The instances' role (in their instance profile): the one role the service role may pass,
   * for the instances of a copied Auto Scaling group. */
  readonly instanceRole: iam.IRole;
  /** What must exist before the group (the instance profile: CodeDeploy copies a launch template
   * that names it). */
  readonly after?: IDependable[];
  /** The alarms that stop and roll back a deployment (lib/constructs/deployment-alarms.ts). */
  readonly alarmNames?: string[];
}

export class BlueGreenGroup extends Construct {
  /** The service role CodeDeploy uses for the group. */
  readonly role: iam.Role;
  readonly resource: CustomResource;
  /** The group's name, as the custom resource made it (a reference: what uses it comes after). */
  readonly deploymentGroupName: string;
  /** What the handler is given. */
  readonly request: BlueGreenGroupRequest;

  constructor(scope: Construct, id: string, props: BlueGreenGroupProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const { fleet } = props;
    this.role = new iam.Role(this, 'ServiceRole', {
      assumedBy: new iam.ServicePrincipal('codedeploy.amazonaws.com'),
      description: `CodeDeploy service role of the blue/green deployment group ${props.deploymentGroupName}`,
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSCodeDeployRole')],
    });
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRole]',
      reason: 'AWSCodeDeployRole is the service-role policy CodeDeploy documents for EC2/on-premises deployment groups, blue/green included.',
    });
    if (fleet.blueGreen.greenFleet === 'copy_auto_scaling_group') {
      const inAccount = `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:*`;
      this.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'LaunchCopiedGroup',
          actions: ['ec2:RunInstances'],
          // The instance and what it is made of: of the account (launch template, subnet,
          // security group, network interface, volume, key pair), or AMIs and snapshots, which
          // have no account in their ARN.
          resources: [inAccount, `arn:${Aws.PARTITION}:ec2:${Aws.REGION}::image/*`, `arn:${Aws.PARTITION}:ec2:${Aws.REGION}::snapshot/*`],
        }),
      );
      this.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'TagAtLaunch',
          actions: ['ec2:CreateTags'],
          resources: [inAccount],
          conditions: { StringEquals: { 'ec2:CreateAction': 'RunInstances' } },
        }),
      );
      this.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'PassInstanceRole',
          actions: ['iam:PassRole'],
          resources: [props.instanceRole.roleArn],
          conditions: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
        }),
      );
      acknowledgeWildcards(this.role, {
        'Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:*':
          'CodeDeploy launches the copied Auto Scaling group\'s instances from its launch template, whose subnets, security groups, volumes and network interfaces are the user\'s: limited to the pipeline\'s account and region, and CreateTags to launches (ec2:CreateAction RunInstances).',
        'Resource::arn:<AWS::Partition>:ec2:<AWS::Region>::image/*':
          'The launch template\'s AMI, whichever it is (an AMI ARN has no account): read at launch only.',
        'Resource::arn:<AWS::Partition>:ec2:<AWS::Region>::snapshot/*':
          'The snapshots behind the launch template\'s AMI (a snapshot ARN has no account): read at launch only.',
      });
    }
    const b = fleet.blueGreen;
    const alarms = props.alarmNames ?? [];
    this.request = {
      applicationName: props.application.applicationName,
      deploymentGroupName: props.deploymentGroupName,
      serviceRoleArn: this.role.roleArn,
      deploymentConfigName: props.deploymentConfig.deploymentConfigName,
      autoScalingGroups: fleet.autoScalingGroups,
      ec2TagSet:
        fleet.tagSet.length > 0
          ? { ec2TagSetList: fleet.tagSet.map((group) => group.map((t) => ({ Key: t.key, Value: t.value, Type: 'KEY_AND_VALUE' as const }))) }
          : undefined,
      loadBalancerInfo: {
        targetGroupInfoList: fleet.targetGroups.map((name) => ({ name })),
        elbInfoList: fleet.classicLoadBalancers.map((name) => ({ name })),
      },
      deploymentStyle: { deploymentType: 'BLUE_GREEN', deploymentOption: 'WITH_TRAFFIC_CONTROL' },
      blueGreenDeploymentConfiguration: blueGreenConfiguration(b),
      // As the in-place groups (deployment-target.ts's guardRails): a deployment stopped by a newer
      // run must not roll back; one stopped by an alarm does. The same AlarmConfiguration and
      // AutoRollbackConfiguration as CreateDeploymentGroup takes them (CodeDeploy API reference,
      // https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_AlarmConfiguration.html and
      // https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_AutoRollbackConfiguration.html).
      autoRollbackConfiguration: { enabled: true, events: alarms.length > 0 ? ['DEPLOYMENT_FAILURE', 'DEPLOYMENT_STOP_ON_ALARM'] : ['DEPLOYMENT_FAILURE'] },
      ...(alarms.length > 0
        ? { alarmConfiguration: { enabled: true, alarms: alarms.map((name) => ({ name })), ignorePollAlarmFailure: false } }
        : {}),
    };

    const provider = CustomResourceProvider.getOrCreateProvider(stack, PROVIDER_ID, {
      codeDirectory: HANDLER_DIR,
      runtime: CustomResourceProviderRuntime.NODEJS_24_X,
      description: 'invisible-pipeline: creates, updates and deletes the EC2 blue/green deployment group through the CodeDeploy API',
    });
    const groups = `arn:${Aws.PARTITION}:codedeploy:${Aws.REGION}:${Aws.ACCOUNT_ID}:deploymentgroup:${props.application.applicationName}/*`;
    provider.addToRolePolicy({
      Sid: 'ManageBlueGreenGroup',
      Effect: 'Allow',
      Action: ['codedeploy:CreateDeploymentGroup', 'codedeploy:UpdateDeploymentGroup', 'codedeploy:GetDeploymentGroup', 'codedeploy:DeleteDeploymentGroup'],
      Resource: groups,
    });
    provider.addToRolePolicy({
      Sid: 'PassServiceRole',
      Effect: 'Allow',
      Action: 'iam:PassRole',
      Resource: this.role.roleArn,
      Condition: { StringEquals: { 'iam:PassedToService': 'codedeploy.amazonaws.com' } },
    });
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: provider.serviceToken,
      resourceType: RESOURCE_TYPE,
      properties: { Group: stack.toJsonString(this.request) },
    });
    // The role's policy first (the role itself comes first by the GetAtt of its ARN); then what
    // the group's instances need (the instance profile a copied launch template names). The
    // handler also retries CodeDeploy's InvalidRoleException a while: a new role takes time to
    // reach every IAM endpoint.
    const policy = this.role.node.tryFindChild('DefaultPolicy');
    this.resource.node.addDependency(...(policy ? [policy] : []), ...(props.after ?? []));
    this.deploymentGroupName = this.resource.getAttString('DeploymentGroupName');
    acknowledgeProvider(stack, nagRef(props.application));
  }
}

const acknowledged = new WeakSet<Stack>();

/** cdk-nag and checkov findings of the stack's one provider of the blue/green group, once. */
function acknowledgeProvider(stack: Stack, application: string): void {
  const provider = stack.node.tryFindChild(`${PROVIDER_ID}CustomResourceProvider`);
  if (!provider || acknowledged.has(stack)) return;
  acknowledged.add(stack);
  const role = provider.node.tryFindChild('Role');
  const handler = provider.node.tryFindChild('Handler');
  if (role) {
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason: 'The blue/green group\'s handler writes its logs with the basic execution role; it runs only when CloudFormation creates, updates or deletes the group.',
    });
    acknowledgeWildcards(role, {
      [`Resource::arn:<AWS::Partition>:codedeploy:<AWS::Region>:<AWS::AccountId>:deploymentgroup:${application}/*`]:
        'A rename of the group updates it under its old name, which the template no longer holds: the deployment groups of this application only, Create/Update/Get/DeleteDeploymentGroup only.',
    });
  }
  if (handler) {
    // The provider gives its function both a GetAtt of its role and a DependsOn on it; cfn-lint
    // flags the redundant DependsOn (W3005). Harmless, and the CDK's.
    (handler as CfnResource).addMetadata('cfn-lint', { config: { ignore_checks: ['W3005'] } });
    skipCheckov(handler, {
      CKV_AWS_115:
        'Runs once per stack operation, invoked by CloudFormation. A reserved concurrency would take from the account\'s unreserved pool, and fails the deployment in accounts at the minimum of 10.',
      CKV_AWS_116:
        'CloudFormation is the only caller and is told of every failure through the response URL (the stack operation fails with the reason); a dead-letter queue would hold nothing a person acts on.',
      CKV_AWS_117:
        'Calls only the CodeDeploy API and reaches no private resource: in a VPC it would need a NAT gateway or a CodeDeploy endpoint, for no gain.',
    });
  }
}
