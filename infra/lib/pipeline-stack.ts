/**
 * The invisible pipeline in one region: artifact store, release parameter, build step,
 * deployment target, triggers and notifications.
 */
import { CfnOutput, Stack, StackProps } from 'aws-cdk-lib';
import * as codecommit from 'aws-cdk-lib/aws-codecommit';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { AppRelease } from './app-release.js';
import { ArtifactStore } from './artifact-store.js';
import { BuildStep } from './build-step.js';
import type { PipelineConfig } from './config.js';
import { DeploymentTarget } from './deployment-target.js';
import { Notifications } from './notifications.js';
import { repository } from './source.js';
import { Triggers } from './triggers.js';

/**
 * Lets the IAM roles and groups `arns` start `project` (and see its builds), and no one else
 * the stack creates. Account administrators can start it too, as they can anything.
 */
function grantStart(scope: Construct, id: string, project: codebuild.IProject, arns: string[]): void {
  if (arns.length === 0) return;
  const policy = new iam.Policy(scope, id, {
    statements: [
      new iam.PolicyStatement({
        sid: 'StartThisProject',
        actions: ['codebuild:StartBuild', 'codebuild:BatchGetBuilds'],
        resources: [project.projectArn],
      }),
    ],
  });
  arns.forEach((arn, i) => {
    if (/:role\//.test(arn)) policy.attachToRole(iam.Role.fromRoleArn(scope, `${id}Role${i}`, arn, { mutable: true }));
    else policy.attachToGroup(iam.Group.fromGroupArn(scope, `${id}Group${i}`, arn));
  });
}

export interface PipelineStackProps extends StackProps {
  readonly config: PipelineConfig;
  readonly toolDir: string;
  readonly buildspecPath: string;
}

export class PipelineStack extends Stack {
  readonly artifacts: ArtifactStore;
  readonly release: AppRelease;
  readonly build: BuildStep;
  readonly target: DeploymentTarget;
  readonly triggers: Triggers;
  readonly notifications: Notifications;

  constructor(scope: Construct, id: string, props: PipelineStackProps) {
    super(scope, id, props);
    const { config } = props;
    // In a region without CodeCommit the repository lives in source_region (SourceStack).
    const repo = config.sourceRegion
      ? codecommit.Repository.fromRepositoryArn(
          this,
          'Repository',
          `arn:${this.partition}:codecommit:${config.sourceRegion}:${config.account}:${config.repoName}`,
        )
      : repository(this, config);

    this.artifacts = new ArtifactStore(this, 'Artifacts');
    this.release = new AppRelease(this, 'Release', {
      parameterName: config.appArchiveParameter,
      bucketName: config.appBucketName,
      accessLogs: this.artifacts.accessLogs,
    });
    this.target = new DeploymentTarget(this, 'Target', { config, artifacts: this.artifacts });
    this.build = new BuildStep(this, 'Build', {
      config,
      repository: repo,
      artifacts: this.artifacts,
      releases: this.release.bucket,
      parameter: this.release.parameter,
      applicationName: this.target.application.applicationName,
      deploymentGroupName: this.target.group.deploymentGroupName,
      deploymentConfigName: this.target.deploymentConfig.deploymentConfigName,
      prod: this.target.prod && {
        deploymentGroupName: this.target.prod.group.deploymentGroupName,
        deploymentConfigName: this.target.prod.deploymentConfig.deploymentConfigName,
      },
      toolDir: props.toolDir,
      buildspecPath: props.buildspecPath,
    });
    this.triggers = new Triggers(this, 'Triggers', {
      config,
      repository: repo,
      project: this.build.project,
      validateProject: this.build.validateProject,
      parameter: this.release.parameter,
    });
    // Starting a manual project is its approval: only the configured principals may.
    grantStart(this, 'Operators', this.build.rollbackProject, config.operators);
    if (this.build.promotionProject) {
      grantStart(this, 'Approvers', this.build.promotionProject, config.approvers);
    }
    this.notifications = new Notifications(this, 'Notifications', {
      projects: [
        this.build.project,
        this.build.validateProject,
        this.build.rollbackProject,
        ...(this.build.promotionProject ? [this.build.promotionProject] : []),
      ],
      manual: [
        { project: this.build.rollbackProject, what: `rollback of ${config.deploymentGroupName}` },
        ...(this.build.promotionProject && config.prod
          ? [
              {
                project: this.build.promotionProject,
                what: `promotion of ${config.deploymentGroupName} to ${config.prod.deploymentGroupName}`,
              },
            ]
          : []),
      ],
      application: this.target.application,
      email: config.notificationEmail,
      deadLetterQueues: [this.triggers.deadLetters],
    });

    new CfnOutput(this, 'RepositoryCloneUrl', { value: repo.repositoryCloneUrlHttp });
    new CfnOutput(this, 'ReleaseParameter', { value: this.release.parameter.parameterName });
    new CfnOutput(this, 'ReleaseBucket', { value: this.release.bucket.bucketName });
    new CfnOutput(this, 'InstanceProfile', { value: this.target.instanceProfile.instanceProfileName });
    new CfnOutput(this, 'NotificationTopic', { value: this.notifications.topic.topicArn });
    new CfnOutput(this, 'RollbackProject', { value: this.build.rollbackProject.projectName });
    if (this.build.promotionProject) {
      new CfnOutput(this, 'PromotionProject', { value: this.build.promotionProject.projectName });
    }
  }
}
