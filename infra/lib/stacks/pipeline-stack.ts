/**
 * The invisible pipeline: in the instances' region the artifact store, the deployment target
 * and the notifications, with the build side (release parameter, build step, triggers) there
 * too, or in a region of its own (`build_region`) for the regions without CodeBuild.
 */
import { CfnOutput, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as codecommit from 'aws-cdk-lib/aws-codecommit';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { AppRelease } from './app-release.js';
import { accessLogBucket, allowLogs, ArtifactStore, type Bundles, fixedNames, remoteBundles } from './artifact-store.js';
import { BuildStep } from './build-step.js';
import type { PipelineConfig } from './config.js';
import { DeploymentTarget, fixedConfigName } from './deployment-target.js';
import { Notifications, type NotificationsProps } from './notifications.js';
import { repository as repositoryIn } from './source.js';
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

/** The build side of the pipeline: the release parameter and bucket, the CodeBuild projects,
 * their triggers, who may start the manual ones, and their notifications. */
export interface BuildSide {
  /** The CodeCommit repository (none with source_provider github). */
  readonly repository?: codecommit.IRepository;
  readonly release: AppRelease;
  readonly build: BuildStep;
  readonly triggers: Triggers;
}

interface BuildSideProps {
  readonly config: PipelineConfig;
  readonly bundles: Bundles;
  readonly logKey: kms.IKey;
  readonly accessLogs: s3.IBucket;
  readonly applicationName: string;
  readonly deploymentGroupName: string;
  readonly deploymentConfigName: string;
  readonly prod?: { readonly deploymentGroupName: string; readonly deploymentConfigName: string };
  readonly toolDir: string;
  readonly buildspecPath: string;
}

/** Adds the build side to `stack` (constructs directly in the stack: their logical ids are the
 * same in the pipeline stack and in a build stack of its own). */
function addBuildSide(stack: Stack, props: BuildSideProps): BuildSide {
  const { config } = props;
  // In a region without CodeCommit the repository lives in source_region (SourceStack).
  const repository = config.github
    ? undefined
    : config.sourceRegion
    ? codecommit.Repository.fromRepositoryArn(
        stack,
        'Repository',
        `arn:${stack.partition}:codecommit:${config.sourceRegion}:${config.account}:${config.repoName}`,
      )
    : repositoryIn(stack, config);
  const release = new AppRelease(stack, 'Release', {
    parameterName: config.appArchiveParameter,
    bucketName: config.appBucketName,
    accessLogs: props.accessLogs,
  });
  const build = new BuildStep(stack, 'Build', {
    config,
    repository,
    bundles: props.bundles,
    logKey: props.logKey,
    deployRegion: config.region,
    releases: release.bucket,
    parameter: release.parameter,
    applicationName: props.applicationName,
    deploymentGroupName: props.deploymentGroupName,
    deploymentConfigName: props.deploymentConfigName,
    prod: props.prod,
    toolDir: props.toolDir,
    buildspecPath: props.buildspecPath,
  });
  const triggers = new Triggers(stack, 'Triggers', {
    config,
    repository,
    project: build.project,
    validateProject: build.validateProject,
    parameter: release.parameter,
  });
  // Starting a manual project is its approval: only the configured principals may.
  grantStart(stack, 'Operators', build.rollbackProject, config.operators);
  if (build.promotionProject) {
    grantStart(stack, 'Approvers', build.promotionProject, config.approvers);
  }
  new CfnOutput(stack, 'RepositoryCloneUrl', {
    value: repository ? repository.repositoryCloneUrlHttp : `https://github.com/${config.github?.owner}/${config.github?.repo}.git`,
  });
  new CfnOutput(stack, 'ReleaseParameter', { value: release.parameter.parameterName });
  new CfnOutput(stack, 'ReleaseBucket', { value: release.bucket.bucketName });
  new CfnOutput(stack, 'RollbackProject', { value: build.rollbackProject.projectName });
  if (build.promotionProject) {
    new CfnOutput(stack, 'PromotionProject', { value: build.promotionProject.projectName });
  }
  return { repository, release, build, triggers };
}

/** What the build side tells: failed builds, the manual projects' ends, lost triggers. */
function buildNotices(config: PipelineConfig, side: BuildSide): Pick<NotificationsProps, 'projects' | 'manual' | 'deadLetterQueues'> {
  const { build } = side;
  return {
    projects: [build.project, build.validateProject, build.rollbackProject, ...(build.promotionProject ? [build.promotionProject] : [])],
    manual: [
      { project: build.rollbackProject, what: `rollback of ${config.deploymentGroupName}` },
      ...(build.promotionProject && config.prod
        ? [
            {
              project: build.promotionProject,
              what: `promotion of ${config.deploymentGroupName} to ${config.prod.deploymentGroupName}`,
            },
          ]
        : []),
    ],
    deadLetterQueues: [side.triggers.deadLetters],
  };
}

/**
 * The pipeline in the instances' region: artifact store, deployment target, notifications, and
 * (without build_region) the build side too.
 */
export class PipelineStack extends Stack {
  readonly artifacts: ArtifactStore;
  readonly target: DeploymentTarget;
  readonly notifications: Notifications;
  /** The build side, when the build is in this region. */
  readonly side?: BuildSide;

  constructor(scope: Construct, id: string, props: PipelineStackProps) {
    super(scope, id, props);
    const { config } = props;
    this.artifacts = new ArtifactStore(this, 'Artifacts', {
      fixed: config.buildRegion ? fixedNames(config.account, config.region, config.applicationName) : undefined,
    });
    this.target = new DeploymentTarget(this, 'Target', { config, artifacts: this.artifacts });
    if (!config.buildRegion) {
      this.side = addBuildSide(this, {
        config,
        bundles: this.artifacts.bundles(),
        logKey: this.artifacts.key,
        accessLogs: this.artifacts.accessLogs,
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
    }
    this.notifications = new Notifications(this, 'Notifications', {
      ...(this.side ? buildNotices(config, this.side) : {}),
      application: this.target.application,
      email: config.notificationEmail,
    });
    new CfnOutput(this, 'InstanceProfile', { value: this.target.instanceProfile.instanceProfileName });
    new CfnOutput(this, 'NotificationTopic', { value: this.notifications.topic.topicArn });
    if (config.buildRegion) new CfnOutput(this, 'ArtifactBucket', { value: this.artifacts.bucket.bucketName });
  }
}

/**
 * The build side in `build_region`, for instances in a region without CodeBuild: it deploys
 * to the pipeline stack's region, naming its bucket, key and configurations by their fixed
 * names (no cross-region reference).
 */
export class BuildStack extends Stack {
  readonly side: BuildSide;
  readonly notifications: Notifications;

  constructor(scope: Construct, id: string, props: PipelineStackProps) {
    super(scope, id, props);
    const { config } = props;
    // CloudWatch Logs takes a key of its own region: the build's log group gets one here.
    const logKey = new kms.Key(this, 'LogKey', {
      description: 'invisible-pipeline: build logs',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    allowLogs(logKey);
    // S3 access logs go to a bucket of the same region.
    const accessLogs = accessLogBucket(this, 'AccessLogs');
    this.side = addBuildSide(this, {
      config,
      bundles: remoteBundles(this.partition, config.account, config.region, config.applicationName),
      logKey,
      accessLogs,
      applicationName: config.applicationName,
      deploymentGroupName: config.deploymentGroupName,
      deploymentConfigName: fixedConfigName(config.applicationName, config.deploymentGroupName, config.minHealthyHostsPercent),
      prod: config.prod && {
        deploymentGroupName: config.prod.deploymentGroupName,
        deploymentConfigName: fixedConfigName(config.applicationName, config.prod.deploymentGroupName, config.prod.minHealthyHostsPercent),
      },
      toolDir: props.toolDir,
      buildspecPath: props.buildspecPath,
    });
    this.notifications = new Notifications(this, 'Notifications', {
      ...buildNotices(config, this.side),
      email: config.notificationEmail,
    });
    new CfnOutput(this, 'NotificationTopic', { value: this.notifications.topic.topicArn });
  }
}
