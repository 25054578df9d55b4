/**
 * The build side of the pipeline (release parameter and bucket, build step, triggers, who may
 * start the manual projects, and what they notify), added to the pipeline stack or to a build
 * stack of its own by the same function, so that its logical ids are the same in both. Not a
 * stack itself.
 */
import { CfnOutput, Stack } from 'aws-cdk-lib';
import * as codecommit from 'aws-cdk-lib/aws-codecommit';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import type { PipelineConfig } from '../config.js';
import { AppRelease } from '../constructs/app-release.js';
import { BuildStep } from '../constructs/build-step.js';
import type { Watched } from '../constructs/notifications.js';
import { Triggers } from '../constructs/triggers.js';
import type { Bundles, NotifyTopic } from '../shared/fixed-names.js';
import { repository as repositoryIn } from '../shared/repository.js';

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

/** The build side of the pipeline: the release parameter and bucket, the CodeBuild projects,
 * their triggers, who may start the manual ones, and their notifications. */
export interface BuildSide {
  /** The CodeCommit repository (none with source_provider github). */
  readonly repository?: codecommit.IRepository;
  readonly release: AppRelease;
  readonly build: BuildStep;
  readonly triggers: Triggers;
}

export interface BuildSideProps {
  readonly config: PipelineConfig;
  readonly bundles: Bundles;
  readonly logKey: kms.IKey;
  readonly accessLogs: s3.IBucket;
  readonly applicationName: string;
  readonly deploymentGroupName: string;
  readonly deploymentConfigName: string;
  readonly prod?: { readonly deploymentGroupName: string; readonly deploymentConfigName: string };
  /** The topic the deploy, rollback and promotion projects publish their outcome to: the
   * pipeline region's (in this stack, or by its fixed name from a build region of its own). */
  readonly notify: NotifyTopic;
  readonly toolDir: string;
  readonly buildspecPath: string;
}

/** Adds the build side to `stack` (constructs directly in the stack: their logical ids are the
 * same in the pipeline stack and in a build stack of its own). */
export function addBuildSide(stack: Stack, props: BuildSideProps): BuildSide {
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
    notify: props.notify,
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

/** What the build side's rules tell: failed builds, the manual projects' ends, lost triggers
 * (the binary tells the outcome of each run that reaches its end itself). */
export function buildNotices(config: PipelineConfig, side: BuildSide): Pick<Watched, 'projects' | 'manual' | 'deadLetterQueues'> {
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

