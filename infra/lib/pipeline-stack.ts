/**
 * The invisible pipeline in one region: artifact store, release parameter, build step,
 * deployment target, triggers and notifications.
 */
import { CfnOutput, Stack, StackProps } from 'aws-cdk-lib';
import * as codecommit from 'aws-cdk-lib/aws-codecommit';
import { Construct } from 'constructs';
import { AppRelease } from './app-release.js';
import { ArtifactStore } from './artifact-store.js';
import { BuildStep } from './build-step.js';
import type { PipelineConfig } from './config.js';
import { DeploymentTarget } from './deployment-target.js';
import { Notifications } from './notifications.js';
import { repository } from './source.js';
import { Triggers } from './triggers.js';

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
    this.notifications = new Notifications(this, 'Notifications', {
      projects: [this.build.project, this.build.validateProject],
      application: this.target.application,
      email: config.notificationEmail,
      deadLetterQueues: [this.triggers.deadLetters],
    });

    new CfnOutput(this, 'RepositoryCloneUrl', { value: repo.repositoryCloneUrlHttp });
    new CfnOutput(this, 'ReleaseParameter', { value: this.release.parameter.parameterName });
    new CfnOutput(this, 'ReleaseBucket', { value: this.release.bucket.bucketName });
    new CfnOutput(this, 'InstanceProfile', { value: this.target.instanceProfile.instanceProfileName });
    new CfnOutput(this, 'NotificationTopic', { value: this.notifications.topic.topicArn });
  }
}
