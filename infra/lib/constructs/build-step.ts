/**
 * The CodeBuild project that runs the invisible-pipeline binary: the repository's commit as
 * primary source, the prebuilt binary (an S3 asset) as secondary source "tool", the top-level
 * buildspec.yml inlined, and a role that may do exactly what the binary does.
 */
import { Duration, SecretValue, Stack, Validations } from 'aws-cdk-lib';
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
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Bundles, NotifyTopic } from '../shared/fixed-names.js';
import { branchGroupsEnv, type BranchMapping, type PipelineConfig } from '../config.js';
import { acknowledgeWildcards, nagArn, nagRef } from '../shared/nag.js';

export interface BuildStepProps {
  readonly config: PipelineConfig;
  /** The CodeCommit repository (none with source_provider github). */
  readonly repository?: codecommit.IRepository;
  /** The artifact store, in this stack or in the instances' region. */
  readonly bundles: Bundles;
  /** The key of the build's log group (a key of the build's region). */
  readonly logKey: kms.IKey;
  /** The region of CodeDeploy and the artifact bucket (the instances'). */
  readonly deployRegion: string;
  readonly releases: s3.IBucket;
  readonly parameter: ssm.IStringParameter;
  readonly applicationName: string;
  readonly deploymentGroupName: string;
  readonly deploymentConfigName: string;
  /** The second deployment group and its configuration, when configured. */
  readonly prod?: { readonly deploymentGroupName: string; readonly deploymentConfigName: string };
  /** The topic the deploy, rollback and promotion projects publish each run's outcome to
   * (NOTIFY_TOPIC_ARN): the pipeline region's notification topic. */
  readonly notify: NotifyTopic;
  /** Folder with the binary and its .sha256 (scripts/build-release writes dist/tool). */
  readonly toolDir: string;
  /** The buildspec to inline (the repository's top-level buildspec.yml). */
  readonly buildspecPath: string;
}

export class BuildStep extends Construct {
  readonly project: codebuild.Project;
  /** Builds of other branches: `validate` only, with a read-only role. */
  readonly validateProject: codebuild.Project;
  /** Started by hand (the operators): `rollback` of the deployment group. */
  readonly rollbackProject: codebuild.Project;
  /** Started by hand (the approvers): `promote` from the first group to the second. */
  readonly promotionProject?: codebuild.Project;

  constructor(scope: Construct, id: string, props: BuildStepProps) {
    super(scope, id);
    const { config, bundles } = props;
    const stack = Stack.of(this);
    // Across regions the binary is told where CodeDeploy and the bucket are.
    const deployRegion: Record<string, codebuild.BuildEnvironmentVariable> =
      props.deployRegion === stack.region ? {} : { DEPLOY_REGION: { value: props.deployRegion } };
    // The bundle key: by ARN in the same stack (and named in the encryption header); across
    // regions by its alias, with no header, so that the bucket's default key applies.
    const keyEnv: Record<string, codebuild.BuildEnvironmentVariable> =
      'arn' in bundles.key ? { ARTIFACT_KMS_KEY_ID: { value: bundles.key.arn } } : {};
    const keyAnyArn = `arn:${stack.partition}:kms:${props.deployRegion}:${stack.account}:key/*`;
    const bundleKey = (sid: string) =>
      'arn' in bundles.key
        ? new iam.PolicyStatement({ sid, actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [bundles.key.arn] })
        : new iam.PolicyStatement({
            sid,
            actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
            resources: [keyAnyArn],
            conditions: { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': [bundles.key.alias] } },
          });
    const keyWildcard: Record<string, string> =
      'arn' in bundles.key
        ? {}
        : {
            [`Resource::arn:<AWS::Partition>:kms:${props.deployRegion}:${stack.account}:key/*`]:
              'The bundle key lives in the instances\' region and is named by its alias (kms:ResourceAliases condition), not by an ARN this region\'s stack cannot reference.',
          };
    // The outcome of every deploy, rollback and promotion, told by the binary itself at the end of
    // its run (--notify-topic, $NOTIFY_TOPIC_ARN; src/aws/calls.json, SNS Publish): sns:Publish on
    // the pipeline's topic, and kms:GenerateDataKey and kms:Decrypt on the topic's customer managed
    // key: "The publisher must have the kms:GenerateDataKey and kms:Decrypt permissions for the AWS
    // KMS key" (Amazon SNS Developer Guide, "Managing Amazon SNS encryption keys and costs", Allow a
    // user to send messages to a topic with SSE,
    // https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#send-to-encrypted-topic).
    // The same page allows them in the key policy or "in an IAM policy assigned to the principals
    // that publish": they are in the role's policy, on the topic and its key only. That works
    // because the key's policy is CDK's default, whose first statement "gives the AWS account that
    // owns the KMS key permission to use IAM policies to allow access" to the key (AWS KMS
    // Developer Guide, "Default key policy",
    // https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html): a role of a
    // build stack in another region needs no statement in the pipeline stack's key policy. From
    // there the topic is named by its fixed name and the key by its alias (kms:ResourceAliases),
    // as the bundle key is.
    const notify = props.notify;
    const notifyEnv: Record<string, codebuild.BuildEnvironmentVariable> = { NOTIFY_TOPIC_ARN: { value: notify.topicArn } };
    const notifyKeyWildcard = `Resource::arn:<AWS::Partition>:kms:${notify.region}:${stack.account}:key/*`;
    const tellOutcome = (r: iam.IRole) => {
      r.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'NotifyOutcome', actions: ['sns:Publish'], resources: [notify.topicArn] }));
      r.addToPrincipalPolicy(
        'arn' in notify.key
          ? new iam.PolicyStatement({ sid: 'NotifyTopicKey', actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [notify.key.arn] })
          : new iam.PolicyStatement({
              sid: 'NotifyTopicKey',
              actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
              resources: [`arn:${stack.partition}:kms:${notify.region}:${stack.account}:key/*`],
              conditions: { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': [notify.key.alias] } },
            }),
      );
      if ('alias' in notify.key) {
        acknowledgeWildcards(r, {
          [notifyKeyWildcard]:
            'The notification topic\'s key lives in the pipeline\'s region and is named by its alias (kms:ResourceAliases condition), not by an ARN this region\'s stack cannot reference.',
        });
      }
    };
    for (const file of ['invisible-pipeline', 'invisible-pipeline.sha256']) {
      if (!existsSync(join(props.toolDir, file))) {
        throw new Error(`${join(props.toolDir, file)} is missing: run scripts/build-release first (or set the tool_dir context)`);
      }
    }
    const tool = new s3assets.Asset(this, 'Tool', { path: props.toolDir });
    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: logs.RetentionDays.THREE_MONTHS,
      encryptionKey: props.logKey,
    });
    const buildSpec = codebuild.BuildSpec.fromObjectToYaml(parse(readFileSync(props.buildspecPath, 'utf8')));
    // The binary writes KEY=value lines here, outside the checkout; the buildspec removes the
    // file before the run and reads it strictly after (never sources it).
    const exportFile = { INVISIBLE_PIPELINE_EXPORT_FILE: { value: '/tmp/invisible-pipeline/exports.env' } };
    // CodeBuild documents CodeCommit sources in the project's own region only. With the
    // repository in source_region the binary is the only source and the buildspec clones the
    // pushed commit with the CodeCommit credential helper (GitPull on that repository).
    const toolSource = codebuild.Source.s3({ bucket: tool.bucket, path: tool.s3ObjectKey, identifier: 'tool' });
    // GitHub: a webhook starts the deploy project on a push to the branch and the validate
    // project on a push to any other (optionally only when CodeDeploy_Files/ changed); the
    // build is of exactly the pushed commit.
    const gh = config.github;
    const gitHub = (deploys: boolean) => {
      if (!gh) throw new Error('source_provider github without its settings');
      const ref = headRefPattern(config.branch, config.branches.mappings);
      let filter = codebuild.FilterGroup.inEventOf(codebuild.EventAction.PUSH);
      filter = deploys ? filter.andHeadRefIs(ref) : filter.andHeadRefIsNot(ref);
      if (gh.pathFilter) filter = filter.andFilePathIs('^CodeDeploy_Files/');
      return codebuild.Source.gitHub({
        owner: gh.owner,
        repo: gh.repo,
        webhook: true,
        webhookFilters: [filter],
        reportBuildStatus: true,
      });
    };
    const repository = props.repository;
    if (!gh && !repository) throw new Error('source_provider codecommit without a repository');
    const sourcesFor = (deploys: boolean) =>
      gh || !repository
        ? { source: gitHub(deploys), secondarySources: [toolSource] }
        : config.sourceRegion
          ? { source: codebuild.Source.s3({ bucket: tool.bucket, path: tool.s3ObjectKey }) }
          : {
              source: codebuild.Source.codeCommit({ repository, branchOrRef: config.branch }),
              secondarySources: [toolSource],
            };
    // The region's GitHub credential for CodeBuild, from the secret by a dynamic reference:
    // the token is in neither the template nor the logs.
    const token = gh?.tokenSecret
      ? new codebuild.GitHubSourceCredentials(this, 'GitHubToken', {
          accessToken: SecretValue.secretsManager(gh.tokenSecret),
        })
      : undefined;
    const cloneUrl: Record<string, codebuild.BuildEnvironmentVariable> =
      config.sourceRegion && repository
        ? { INVISIBLE_PIPELINE_CLONE_URL: { value: repository.repositoryCloneUrlHttp } }
        : {};
    const newProject = (
      id: string,
      projectName: string,
      description: string,
      timeout: Duration,
      environmentVariables: Record<string, codebuild.BuildEnvironmentVariable>,
      toolOnly = false,
      deploys = true,
    ) => {
      // Rollback and promotion work on what is already in S3: the binary is their only source.
      const project = new codebuild.Project(this, id, {
        projectName,
        description,
        ...(toolOnly ? { source: codebuild.Source.s3({ bucket: tool.bucket, path: tool.s3ObjectKey }) } : sourcesFor(deploys)),
        buildSpec,
        // The newest major version of CodeBuild's Amazon Linux standard image, by its major tag:
        // "CodeBuild optimizes the provisioning duration of builds with supported images by
        // caching them in the machine's Amazon Machine Images", a supported image being "the
        // latest major version of an image" (CodeBuild User Guide, "Docker images provided by
        // CodeBuild", https://docs.aws.amazon.com/codebuild/latest/userguide/build-env-ref-available.html);
        // an older major version (5.0) is not said to be cached. Small: the guide ties no
        // provisioning time to the compute type (only Lambda compute starts faster, and a Lambda
        // build is bounded by 15 minutes, while a deploy follows its deployment for longer).
        environment: {
          buildImage: codebuild.LinuxBuildImage.AMAZON_LINUX_2023_6,
          computeType: codebuild.ComputeType.SMALL,
          privileged: false,
        },
        environmentVariables: { ...exportFile, ...deployRegion, ...(toolOnly ? {} : cloneUrl), ...environmentVariables },
        timeout,
        logging: { cloudWatch: { logGroup } },
        // No concurrent build limit: with one, extra StartBuild calls fail instead of queueing.
      });
      if (config.sourceRegion && repository && !toolOnly) repository.grantPull(project);
      // The webhook is made with the credential: it comes first.
      if (token && !toolOnly) project.node.addDependency(token);
      if (gh?.connectionArn && !toolOnly) {
        // CodeBuild's GitHub source through a CodeConnections connection: the project's
        // source authenticates with it, and the role may use it (and nothing else).
        (project.node.defaultChild as codebuild.CfnProject).addPropertyOverride('Source.Auth', {
          Type: 'CODECONNECTIONS',
          Resource: gh.connectionArn,
        });
        const service = gh.connectionArn.split(':')[2];
        project.addToRolePolicy(
          new iam.PolicyStatement({
            sid: 'UseConnection',
            actions: [`${service}:GetConnectionToken`, `${service}:GetConnection`, `${service}:UseConnection`],
            resources: [gh.connectionArn],
          }),
        );
      }
      Validations.of(project).acknowledge({
        id: 'AwsSolutions-CB4',
        reason:
          'The project produces no build artifacts; the bundle is encrypted with the customer key by the binary (SSE-KMS) and the log group uses that key too.',
      });
      return project;
    };

    // Blue/green (the first group): the replacement instances a deployment goes to, when they
    // are chosen by tag (green_fleet discover_existing: CreateDeployment's targetInstances); and,
    // when the original fleet is terminated after a wait (up to two days), following ends when
    // traffic has moved (the deployment's end is told by the notification topic).
    const blueGreen = config.fleet.blueGreen;
    const blueGreenEnv: Record<string, codebuild.BuildEnvironmentVariable> = {
      ...(blueGreen && blueGreen.greenFleetTags.length > 0
        ? { GREEN_FLEET_TAG: { value: blueGreen.greenFleetTags.map((t) => `${t.key}=${t.value}`).join(',') } }
        : {}),
      ...(blueGreen?.blueInstances === 'terminate' ? { WAIT_FOR: { value: 'traffic' } } : {}),
    };
    const waitForEnv: Record<string, codebuild.BuildEnvironmentVariable> = blueGreenEnv.WAIT_FOR ? { WAIT_FOR: blueGreenEnv.WAIT_FOR } : {};

    // Following the deployment and waiting for a busy group each take up to the wait timeout.
    this.project = newProject(
      'Project',
      config.projectName,
      'invisible-pipeline: merge, check and deploy the CodeDeploy files and the application release',
      Duration.minutes(config.waitTimeoutMinutes * 2 + 15),
      {
        APP_ARCHIVE_PARAMETER: { value: props.parameter.parameterName },
        ARTIFACT_BUCKET: { value: bundles.bucketName },
        ARTIFACT_PREFIX: { value: bundles.prefix },
        ...keyEnv,
        CODEDEPLOY_APPLICATION: { value: props.applicationName },
        CODEDEPLOY_DEPLOYMENT_GROUP: { value: props.deploymentGroupName },
        CODEDEPLOY_DEPLOYMENT_CONFIG: { value: props.deploymentConfigName },
        IF_BUSY: { value: config.ifBusy },
        WAIT_TIMEOUT: { value: `${config.waitTimeoutMinutes}m` },
        ...blueGreenEnv,
        // Deploys only: the windows and freezes (src/deployment/window.rs); rollbacks are never held.
        ...(config.deployWindows.length ? { DEPLOY_WINDOW: { value: config.deployWindows.join(';') } } : {}),
        ...(config.freezes.length ? { DEPLOY_FREEZE: { value: config.freezes.join(';') } } : {}),
        // Branch environments: the binary deploys a push of PIPELINE_BRANCH (the trigger's) to the
        // group of its exact pattern, else of its longest prefix (`PATTERN=GROUP;…`).
        ...(config.branches.mappings.length ? { BRANCH_GROUPS: { value: branchGroupsEnv(config) } } : {}),
        ...notifyEnv,
      },
    );
    // Pushes to other branches: checks only, in a project whose role can read the release and
    // nothing else, so that no branch push can reach the deployment group or the bundles.
    this.validateProject = newProject(
      'ValidateProject',
      `${config.projectName}-validate`,
      'invisible-pipeline: check the CodeDeploy files of a branch (no deployment)',
      Duration.minutes(15),
      {
        INVISIBLE_PIPELINE_COMMAND: { value: 'validate' },
        APP_ARCHIVE_PARAMETER: { value: props.parameter.parameterName },
      },
      false,
      false,
    );
    const validateRole = this.validateProject.role!;
    const role = this.project.role!;
    // Both projects read the release parameter and the archive it names.
    for (const reader of [validateRole, role]) {
      reader.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'ReadRelease',
          actions: ['s3:GetObject', 's3:GetObjectVersion'],
          resources: [props.releases.arnForObjects('*')],
        }),
      );
      props.parameter.grantRead(reader);
    }

    const arn = (resource: string) =>
      `arn:${stack.partition}:codedeploy:${props.deployRegion}:${stack.account}:${resource}`;
    // The groups of mapped branches: the first group's name aside (it is that group), by the
    // names the stack gives them, which a build in another region knows without a reference.
    const branchGroupNames = config.branches.groups.map((g) => g.deploymentGroupName);
    // A deployment stopped by an alarm is reported with the alarm's state and reason
    // (cloudwatch:DescribeAlarms in src/aws/calls.json; a denial is only a note). The group's alarm
    // configuration can name any alarm of its region, and can be changed outside the stack: the
    // alarms of the pipeline's account and region, read-only.
    const alarmsArn = `arn:${stack.partition}:cloudwatch:${props.deployRegion}:${stack.account}:alarm:*`;
    const readAlarms = (r: iam.IRole) => {
      r.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadAlarms', actions: ['cloudwatch:DescribeAlarms'], resources: [alarmsArn] }));
      acknowledgeWildcards(r, {
        [`Resource::arn:<AWS::Partition>:cloudwatch:${props.deployRegion}:${stack.account}:alarm:*`]:
          'The binary names the alarm that stopped a deployment from the group\'s alarm configuration, which may name any alarm of the region: cloudwatch:DescribeAlarms (read-only) on the alarms of the pipeline\'s account and region.',
      });
    };
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'CheckBundleBucket',
        actions: ['s3:ListBucket'],
        resources: [bundles.bucketArn],
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
        resources: [bundles.bundlesArn],
      }),
    );
    // Multipart uploads with SSE-KMS need Decrypt as well as GenerateDataKey.
    role.addToPrincipalPolicy(bundleKey('BundleKey'));
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'Deploy',
        actions: [
          'codedeploy:CreateDeployment',
          'codedeploy:GetDeployment',
          'codedeploy:ListDeployments',
          'codedeploy:BatchGetDeployments',
          'codedeploy:GetDeploymentGroup',
        ],
        // The first group and every group a branch maps to (branches), by name.
        resources: [props.deploymentGroupName, ...branchGroupNames].map((name) => arn(`deploymentgroup:${props.applicationName}/${name}`)),
      }),
    );
    readAlarms(role);
    // These three support no resource-level permissions (Service Authorization Reference,
    // "Actions defined by AWS CodeDeploy": no resource type), so a statement scoped to the
    // group never matches them: stop-active and the failure report would be denied.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'DeploymentsWithoutResourceType',
        actions: ['codedeploy:StopDeployment', 'codedeploy:ListDeploymentTargets', 'codedeploy:BatchGetDeploymentTargets'],
        resources: ['*'],
      }),
    );
    // The deploy says when the group's target groups keep the 300 s deregistration delay:
    // Elastic Load Balancing's Describe actions have no resource type either (Service
    // Authorization Reference, "Actions defined by Elastic Load Balancing V2"); read-only.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'TargetGroupsWithoutResourceType',
        actions: ['elasticloadbalancing:DescribeTargetGroups', 'elasticloadbalancing:DescribeTargetGroupAttributes'],
        resources: ['*'],
      }),
    );
    // The preflight (src/deployment/preflight.rs) looks for a running instance of the group's
    // tags or Auto Scaling groups: EC2's and Auto Scaling's Describe actions have no resource
    // type (Service Authorization Reference, "Actions defined by Amazon EC2" and "by Amazon EC2
    // Auto Scaling"); and it reads the group's service role, which a group may name whatever
    // the stack made (it can be changed outside it): GetRole of the account's roles, read-only.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PreflightWithoutResourceType',
        actions: ['ec2:DescribeInstances', 'autoscaling:DescribeAutoScalingGroups'],
        resources: ['*'],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PreflightServiceRole',
        actions: ['iam:GetRole'],
        resources: [`arn:${stack.partition}:iam::${stack.account}:role/*`],
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
    // What CDK grants every project: the binary's asset, its default log group, its report groups.
    const projectGrants = (ref: string): Record<string, string> => ({
      'Action::s3:GetObject*': 'CDK\'s read grant on the bootstrap asset that carries the invisible-pipeline binary (a source of the project).',
      'Action::s3:GetBucket*': 'CDK\'s read grant on the bootstrap asset that carries the invisible-pipeline binary (a source of the project).',
      'Action::s3:List*': 'CDK\'s read grant on the bootstrap asset that carries the invisible-pipeline binary (a source of the project).',
      [`Resource::arn:<AWS::Partition>:logs:${stack.region}:${stack.account}:log-group:/aws/codebuild/${ref}:*`]:
        'CodeBuild\'s default log group of this project, added by CDK; the build logs to its own encrypted group.',
      [`Resource::arn:<AWS::Partition>:codebuild:${stack.region}:${stack.account}:report-group/${ref}-*`]:
        'Report groups of this project only, added by CDK for CodeBuild test reports.',
    });
    acknowledgeWildcards(role, {
      [`Resource::${bundles.nagBundlesArn}`]:
        'Bundle keys are new for every build; the grant is limited to the bundles prefix of the pipeline\'s own bucket.',
      [`Resource::${releasesArn}/*`]:
        'The release parameter may name any archive in the releases bucket; read-only (GetObject, GetObjectVersion).',
      ...projectGrants(project),
      ...keyWildcard,
      'Resource::*':
        'codedeploy:StopDeployment, ListDeploymentTargets and BatchGetDeploymentTargets, elasticloadbalancing:DescribeTargetGroups and DescribeTargetGroupAttributes, ec2:DescribeInstances and autoscaling:DescribeAutoScalingGroups (the last four read-only) have no resource type in the Service Authorization Reference: "*" is the only resource they match.',
      [`Resource::arn:<AWS::Partition>:iam::${stack.account}:role/*`]:
        'The preflight reads (iam:GetRole, read-only) the service role the deployment group names, which can be any role of the account: a group can be changed outside the stack.',
    });
    const validate = nagRef(this.validateProject);
    acknowledgeWildcards(validateRole, {
      [`Resource::${releasesArn}/*`]:
        'The release parameter may name any archive in the releases bucket; read-only (GetObject, GetObjectVersion).',
      ...projectGrants(validate),
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadDeploymentConfig',
        actions: ['codedeploy:GetDeploymentConfig'],
        resources: [arn(`deploymentconfig:${props.deploymentConfigName}`)],
      }),
    );
    tellOutcome(role);
    // The run's timeline starts with its build's own phases (BatchGetBuilds of $CODEBUILD_BUILD_ID,
    // src/aws/codebuild.rs; a denial is only a note): the builds of this project only, named by the
    // project's fixed name (its ARN attribute would make the role's policy wait for the project,
    // which waits for the policy). codebuild:BatchGetBuilds has the resource type "project"
    // (Service Authorization Reference, "Actions defined by AWS CodeBuild").
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadOwnBuild',
        actions: ['codebuild:BatchGetBuilds'],
        resources: [`arn:${stack.partition}:codebuild:${stack.region}:${stack.account}:project/${config.projectName}`],
      }),
    );

    // Manual projects: they deploy again what is in S3 (never build), each with a role that may
    // do exactly what its command does, for the groups it serves.
    const group = (name: string) => arn(`deploymentgroup:${props.applicationName}/${name}`);
    const common = {
      CODEDEPLOY_APPLICATION: { value: props.applicationName },
      ARTIFACT_PREFIX: { value: bundles.prefix },
      IF_BUSY: { value: config.ifBusy },
      WAIT_TIMEOUT: { value: `${config.waitTimeoutMinutes}m` },
      ...notifyEnv,
    };
    const redeployRole = (
      r: iam.IRole,
      read: string[],
      deployTo: string[],
      configs: string[],
      copies: boolean,
      ref: string,
    ) => {
      r.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'CheckBundleBucket',
          actions: ['s3:ListBucket'],
          resources: [bundles.bucketArn],
        }),
      );
      r.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'Bundles',
          actions: [
            's3:GetObject',
            's3:GetObjectVersion',
            's3:PutObjectTagging',
            's3:PutObjectVersionTagging',
            // promote: a copy in another bucket of this prefix, removed when it fails its check
            ...(copies ? ['s3:PutObject', 's3:DeleteObject', 's3:DeleteObjectVersion'] : []),
          ],
          resources: [bundles.bundlesArn],
        }),
      );
      if (copies) r.addToPrincipalPolicy(bundleKey('BundleKey'));
      if (read.length > 0) {
        r.addToPrincipalPolicy(
          new iam.PolicyStatement({
            sid: 'ReadFromGroup',
            actions: ['codedeploy:GetDeployment', 'codedeploy:ListDeployments', 'codedeploy:BatchGetDeployments'],
            resources: read.map(group),
          }),
        );
      }
      r.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'Deploy',
          actions: [
            'codedeploy:CreateDeployment',
            'codedeploy:GetDeployment',
            'codedeploy:ListDeployments',
            'codedeploy:BatchGetDeployments',
          ],
          resources: deployTo.map(group),
        }),
      );
      // --ignore-alarms (a revision known to be good, while an alarm is still in ALARM): CreateDeployment
      // with an overrideAlarmConfiguration "needs the UpdateDeploymentGroup IAM permission" (CodeDeploy
      // API reference, CreateDeployment, https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_CreateDeployment.html),
      // on the groups this project deploys to only; the deploy project never overrides.
      r.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'OverrideAlarms',
          actions: ['codedeploy:UpdateDeploymentGroup'],
          resources: deployTo.map(group),
        }),
      );
      r.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'DeploymentsWithoutResourceType',
          actions: ['codedeploy:StopDeployment', 'codedeploy:ListDeploymentTargets', 'codedeploy:BatchGetDeploymentTargets'],
          resources: ['*'],
        }),
      );
      r.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'RegisterRevision',
          actions: ['codedeploy:RegisterApplicationRevision', 'codedeploy:GetApplicationRevision'],
          resources: [arn(`application:${props.applicationName}`)],
        }),
      );
      r.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'ReadDeploymentConfig',
          actions: ['codedeploy:GetDeploymentConfig'],
          resources: configs.map((c) => arn(`deploymentconfig:${c}`)),
        }),
      );
      readAlarms(r);
      tellOutcome(r);
      acknowledgeWildcards(r, {
        [`Resource::${bundles.nagBundlesArn}`]:
          'The bundle to deploy again is whichever an earlier deployment names; limited to the bundles prefix of the pipeline\'s own bucket.',
        ...projectGrants(ref),
        ...(copies ? keyWildcard : {}),
        'Resource::*':
          'codedeploy:StopDeployment, ListDeploymentTargets and BatchGetDeploymentTargets have no resource type in the Service Authorization Reference: "*" is the only resource they match.',
      });
    };
    // Rollback: the first group, the second, and the mapped branches' groups (a staging group is
    // rolled back like any other).
    const groups = [props.deploymentGroupName, ...(props.prod ? [props.prod.deploymentGroupName] : []), ...branchGroupNames];
    const configs = [props.deploymentConfigName, ...(props.prod ? [props.prod.deploymentConfigName] : [])];
    this.rollbackProject = newProject(
      'RollbackProject',
      `${config.projectName}-rollback`,
      `invisible-pipeline: roll ${props.deploymentGroupName} back to its previous good revision (override CODEDEPLOY_DEPLOYMENT_GROUP for another group, ROLLBACK_TO for a deployment)`,
      Duration.minutes(config.waitTimeoutMinutes * 2 + 15),
      {
        INVISIBLE_PIPELINE_COMMAND: { value: 'rollback' },
        ...common,
        CODEDEPLOY_DEPLOYMENT_GROUP: { value: props.deploymentGroupName },
        ...waitForEnv,
      },
      true,
    );
    redeployRole(this.rollbackProject.role!, [], groups, configs, false, nagRef(this.rollbackProject));
    if (props.prod) {
      this.promotionProject = newProject(
        'PromotionProject',
        `${config.projectName}-promote`,
        `invisible-pipeline: promote the latest success of ${props.deploymentGroupName} to ${props.prod.deploymentGroupName}; starting it is the approval`,
        Duration.minutes(config.waitTimeoutMinutes * 2 + 15),
        {
          INVISIBLE_PIPELINE_COMMAND: { value: 'promote' },
          ...common,
          PROMOTE_FROM_GROUP: { value: props.deploymentGroupName },
          PROMOTE_TO_GROUP: { value: props.prod.deploymentGroupName },
        },
        true,
      );
      redeployRole(
        this.promotionProject.role!,
        [props.deploymentGroupName],
        [props.prod.deploymentGroupName],
        [props.prod.deploymentConfigName],
        true,
        nagRef(this.promotionProject),
      );
    }
  }
}

/** A name as a literal in a regular expression. */
function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The HEAD_REF pattern of the deployed branches for CodeBuild's GitHub webhook: the deployment
 * branch and each mapped pattern, anchored (CDK's andBranchIs pattern, refs/heads/main, would also
 * match main-old), a prefix followed by anything. The deploy project's filter group takes pushes
 * that match it; the validate project's, with ExcludeMatchedPattern, all the others.
 */
export function headRefPattern(branch: string, mapped: BranchMapping[]): string {
  const names = [...new Set([literal(branch), ...mapped.map((m) => (m.prefix === undefined ? literal(m.pattern) : `${literal(m.prefix)}.*`))])];
  return names.length === 1 ? `^refs/heads/${names[0]}$` : `^refs/heads/(${names.join('|')})$`;
}
