/**
 * The CodeBuild project that runs the invisible-pipeline binary: the repository's commit as
 * primary source, the prebuilt binary (an S3 asset) as secondary source "tool", the top-level
 * buildspec.yml inlined, and a role that may do exactly what the binary does.
 */
import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as codecommit from 'aws-cdk-lib/aws-codecommit';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { ArtifactStore } from './artifact-store.js';
import type { PipelineConfig } from './config.js';
import { acknowledgeWildcards, nagArn, nagRef } from './nag.js';

export interface BuildStepProps {
  readonly config: PipelineConfig;
  readonly repository: codecommit.IRepository;
  readonly artifacts: ArtifactStore;
  readonly releases: s3.IBucket;
  readonly parameter: ssm.IStringParameter;
  readonly applicationName: string;
  readonly deploymentGroupName: string;
  readonly deploymentConfigName: string;
  /** Folder with the binary and its .sha256 (scripts/build-release writes dist/tool). */
  readonly toolDir: string;
  /** The buildspec to inline (the repository's top-level buildspec.yml). */
  readonly buildspecPath: string;
}

export class BuildStep extends Construct {
  readonly project: codebuild.Project;

  constructor(scope: Construct, id: string, props: BuildStepProps) {
    super(scope, id);
    const { config, artifacts } = props;
    const stack = Stack.of(this);
    for (const file of ['invisible-pipeline', 'invisible-pipeline.sha256']) {
      if (!existsSync(join(props.toolDir, file))) {
        throw new Error(`${join(props.toolDir, file)} is missing: run scripts/build-release first (or set the tool_dir context)`);
      }
    }
    const tool = new s3assets.Asset(this, 'Tool', { path: props.toolDir });
    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: logs.RetentionDays.THREE_MONTHS,
      encryptionKey: artifacts.key,
    });

    // Following the deployment and waiting for a busy group each take up to the wait timeout.
    const timeout = Duration.minutes(config.waitTimeoutMinutes * 2 + 15);
    this.project = new codebuild.Project(this, 'Project', {
      projectName: config.projectName,
      description: 'invisible-pipeline: merge, check and deploy the CodeDeploy files and the application release',
      source: codebuild.Source.codeCommit({ repository: props.repository, branchOrRef: config.branch }),
      secondarySources: [
        codebuild.Source.s3({ bucket: tool.bucket, path: tool.s3ObjectKey, identifier: 'tool' }),
      ],
      buildSpec: codebuild.BuildSpec.fromObjectToYaml(parse(readFileSync(props.buildspecPath, 'utf8'))),
      environment: {
        buildImage: codebuild.LinuxBuildImage.AMAZON_LINUX_2023_5,
        computeType: codebuild.ComputeType.SMALL,
        privileged: false,
      },
      environmentVariables: {
        APP_ARCHIVE_PARAMETER: { value: props.parameter.parameterName },
        ARTIFACT_BUCKET: { value: artifacts.bucket.bucketName },
        ARTIFACT_PREFIX: { value: artifacts.prefix },
        ARTIFACT_KMS_KEY_ID: { value: artifacts.key.keyArn },
        CODEDEPLOY_APPLICATION: { value: props.applicationName },
        CODEDEPLOY_DEPLOYMENT_GROUP: { value: props.deploymentGroupName },
        CODEDEPLOY_DEPLOYMENT_CONFIG: { value: props.deploymentConfigName },
        IF_BUSY: { value: config.ifBusy },
        WAIT_TIMEOUT: { value: `${config.waitTimeoutMinutes}m` },
      },
      timeout,
      logging: { cloudWatch: { logGroup } },
      // No concurrent build limit: with one, extra StartBuild calls fail instead of queueing.
    });
    Validations.of(this.project).acknowledge({
      id: 'AwsSolutions-CB4',
      reason:
        'The project produces no build artifacts; the bundle is encrypted with the customer key by the binary (SSE-KMS) and the log group uses that key too.',
    });

    const role = this.project.role!;
    const arn = (resource: string) =>
      `arn:${stack.partition}:codedeploy:${stack.region}:${stack.account}:${resource}`;
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadRelease',
        actions: ['s3:GetObject', 's3:GetObjectVersion'],
        resources: [props.releases.arnForObjects('*')],
      }),
    );
    props.parameter.grantRead(role);
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'CheckBundleBucket',
        actions: ['s3:ListBucket'],
        resources: [artifacts.bucket.bucketArn],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'WriteBundles',
        actions: [
          's3:PutObject',
          's3:GetObject',
          's3:GetObjectVersion',
          's3:PutObjectTagging',
          's3:PutObjectVersionTagging',
          's3:AbortMultipartUpload',
          's3:DeleteObject',
          's3:DeleteObjectVersion',
        ],
        resources: [artifacts.bundlesArn()],
      }),
    );
    // Multipart uploads with SSE-KMS need Decrypt as well as GenerateDataKey.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'BundleKey',
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: [artifacts.key.keyArn],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'Deploy',
        actions: [
          'codedeploy:CreateDeployment',
          'codedeploy:GetDeployment',
          'codedeploy:ListDeployments',
          'codedeploy:BatchGetDeployments',
          'codedeploy:StopDeployment',
          'codedeploy:ListDeploymentTargets',
          'codedeploy:BatchGetDeploymentTargets',
        ],
        resources: [arn(`deploymentgroup:${props.applicationName}/${props.deploymentGroupName}`)],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'RegisterRevision',
        actions: ['codedeploy:RegisterApplicationRevision', 'codedeploy:GetApplicationRevision'],
        resources: [arn(`application:${props.applicationName}`)],
      }),
    );
    const releasesArn =
      props.releases.node.defaultChild !== undefined
        ? nagArn(props.releases)
        : `arn:<AWS::Partition>:s3:::${props.releases.bucketName}`;
    const project = nagRef(this.project);
    acknowledgeWildcards(role, {
      [`Resource::${nagArn(artifacts.bucket)}/${artifacts.prefix}/*`]:
        'Bundle keys are new for every build; the grant is limited to the bundles prefix of the pipeline\'s own bucket.',
      [`Resource::${releasesArn}/*`]:
        'The release parameter may name any archive in the releases bucket; read-only (GetObject, GetObjectVersion).',
      'Action::s3:GetObject*': 'CDK\'s read grant on the bootstrap asset that carries the invisible-pipeline binary (secondary source).',
      'Action::s3:GetBucket*': 'CDK\'s read grant on the bootstrap asset that carries the invisible-pipeline binary (secondary source).',
      'Action::s3:List*': 'CDK\'s read grant on the bootstrap asset that carries the invisible-pipeline binary (secondary source).',
      [`Resource::arn:<AWS::Partition>:logs:${stack.region}:${stack.account}:log-group:/aws/codebuild/${project}:*`]:
        'CodeBuild\'s default log group of this project, added by CDK; the build logs to its own encrypted group.',
      [`Resource::arn:<AWS::Partition>:codebuild:${stack.region}:${stack.account}:report-group/${project}-*`]:
        'Report groups of this project only, added by CDK for CodeBuild test reports.',
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadDeploymentConfig',
        actions: ['codedeploy:GetDeploymentConfig'],
        resources: [arn(`deploymentconfig:${props.deploymentConfigName}`)],
      }),
    );
  }
}
