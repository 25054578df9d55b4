/**
 * The CodeDeploy side and the EC2 instances it deploys to: application, deployment
 * configuration, deployment group by EC2 tag with automatic rollback, and what the instances
 * need (an instance profile that may read the bundles, and the CodeDeploy agent, installed and
 * kept up to date by an SSM State Manager association).
 */
import { Validations } from 'aws-cdk-lib';
import * as codedeploy from 'aws-cdk-lib/aws-codedeploy';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import type { ArtifactStore } from './artifact-store.js';
import type { PipelineConfig } from '../config.js';
import { deploymentConfigName } from '../shared/fixed-names.js';
import { acknowledgeWildcards, nagArn } from '../shared/nag.js';

export interface DeploymentTargetProps {
  readonly config: PipelineConfig;
  readonly artifacts: ArtifactStore;
}

export class DeploymentTarget extends Construct {
  readonly application: codedeploy.ServerApplication;
  readonly deploymentConfig: codedeploy.ServerDeploymentConfig;
  readonly group: codedeploy.ServerDeploymentGroup;
  /** The second group (production), when configured, with its own configuration. */
  readonly prod?: { group: codedeploy.ServerDeploymentGroup; deploymentConfig: codedeploy.ServerDeploymentConfig };
  readonly instanceRole: iam.Role;
  readonly instanceProfile: iam.InstanceProfile;

  constructor(scope: Construct, id: string, props: DeploymentTargetProps) {
    super(scope, id);
    const { config, artifacts } = props;
    this.application = new codedeploy.ServerApplication(this, 'Application', {
      applicationName: config.applicationName,
    });
    this.deploymentConfig = new codedeploy.ServerDeploymentConfig(this, 'Config', {
      deploymentConfigName: deploymentConfigName(config, 'main'),
      minimumHealthyHosts: codedeploy.MinimumHealthyHosts.percentage(config.minHealthyHostsPercent),
    });
    this.group = new codedeploy.ServerDeploymentGroup(this, 'Group', {
      application: this.application,
      deploymentGroupName: config.deploymentGroupName,
      deploymentConfig: this.deploymentConfig,
      ec2InstanceTags: new codedeploy.InstanceTagSet({ [config.ec2TagKey]: [config.ec2TagValue] }),
      installAgent: false,
      // A deployment stopped by a newer run (--if-busy stop-active) must not roll back.
      autoRollback: { failedDeployment: true, stoppedDeployment: false },
    });
    if (config.prod) {
      const deploymentConfig = new codedeploy.ServerDeploymentConfig(this, 'ProdConfig', {
        deploymentConfigName: deploymentConfigName(config, 'prod'),
        minimumHealthyHosts: codedeploy.MinimumHealthyHosts.percentage(config.prod.minHealthyHostsPercent),
      });
      const group = new codedeploy.ServerDeploymentGroup(this, 'ProdGroup', {
        application: this.application,
        deploymentGroupName: config.prod.deploymentGroupName,
        deploymentConfig,
        ec2InstanceTags: new codedeploy.InstanceTagSet({ [config.ec2TagKey]: [config.prod.ec2TagValue] }),
        installAgent: false,
        autoRollback: { failedDeployment: true, stoppedDeployment: false },
      });
      this.prod = { group, deploymentConfig };
    }
    for (const group of [this.group, this.prod?.group]) {
      if (!group) continue;
      Validations.of(group.role!).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRole]',
        reason: 'AWSCodeDeployRole is the service-role policy CodeDeploy documents for EC2/on-premises deployment groups.',
      });
    }

    this.instanceRole = new iam.Role(this, 'InstanceRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'EC2 instances deployed by invisible-pipeline: SSM agent, CodeDeploy agent, bundle download',
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    Validations.of(this.instanceRole).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
      reason: 'AmazonSSMManagedInstanceCore is the documented minimum for the SSM agent, which installs and updates the CodeDeploy agent.',
    });
    this.instanceRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadBundles',
        actions: ['s3:GetObject', 's3:GetObjectVersion'],
        resources: [artifacts.bundlesArn()],
      }),
    );
    this.instanceRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'DecryptBundles',
        actions: ['kms:Decrypt'],
        resources: [artifacts.key.keyArn],
      }),
    );
    acknowledgeWildcards(this.instanceRole, {
      [`Resource::${nagArn(artifacts.bucket)}/${artifacts.prefix}/*`]:
        'Instances download whichever bundle a deployment names; read-only, limited to the bundles prefix.',
    });
    this.instanceProfile = new iam.InstanceProfile(this, 'InstanceProfile', { role: this.instanceRole });

    new ssm.CfnAssociation(this, 'CodeDeployAgent', {
      name: 'AWS-ConfigureAWSPackage',
      parameters: { action: ['Install'], name: ['AWSCodeDeployAgent'] },
      targets: [
        {
          key: `tag:${config.ec2TagKey}`,
          values: [config.ec2TagValue, ...(config.prod ? [config.prod.ec2TagValue] : [])],
        },
      ],
      scheduleExpression: 'rate(14 days)',
    });
  }
}
