import { App, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { createPipeline } from '../lib/app.js';
import { ConfigError } from '../lib/config.js';
import { agentConfigScript } from '../lib/constructs/deployment-target.js';
import { build, buildspecPath, infraDir, makeApp, nagFindings } from './helpers.js';

/** Synthesizes (runs cdk-nag and CloudFormation validation) and returns the findings. */
function synthFindings(p: ReturnType<typeof build>): string[] {
  p.app.synth();
  return nagFindings(p.outdir);
}

function template(overrides: Record<string, unknown> = {}) {
  const p = build(overrides);
  return { p, t: Template.fromStack(p.pipeline) };
}

type Statement = { Action: string | string[]; Resource?: unknown; Effect: string };

function statements(t: Template, type: 'AWS::IAM::Policy' | 'AWS::IAM::Role'): Statement[] {
  const out: Statement[] = [];
  for (const resource of Object.values(t.findResources(type))) {
    const docs =
      type === 'AWS::IAM::Policy'
        ? [resource.Properties.PolicyDocument]
        : (resource.Properties.Policies ?? []).map((p: { PolicyDocument: unknown }) => p.PolicyDocument);
    for (const doc of docs) out.push(...(doc as { Statement: Statement[] }).Statement);
  }
  return out;
}

describe('cdk-nag and template validation', () => {
  test('AwsSolutions errors and warnings are empty (default configuration)', () => {
    expect(synthFindings(build())).toEqual([]);
  });

  test('and with every optional key set', () => {
    const p = build({
      notification_email: 'ops@example.com',
      app_bucket_name: 'existing-releases',
      repo_exists: true,
      if_busy: 'stop-active',
    });
    expect(synthFindings(p)).toEqual([]);
  });

  test('the checks are live: a non-compliant resource is reported', () => {
    const { app, outdir } = makeApp();
    const stack = new Stack(app, 'Control', { env: { account: '123456789012', region: 'ap-southeast-1' } });
    new s3.Bucket(stack, 'Plain');
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).toThrow(/AwsSolutions-S1|AwsSolutions-S10/);
    void outdir;
  });

  test('a region without CodeCommit works with source_region: no "does not exist in" findings', () => {
    const p = build({ pipeline_region: 'ap-southeast-7', source_region: 'ap-southeast-1' });
    expect(synthFindings(p)).toEqual([]);
    expect(p.source).toBeDefined();
    const source = Template.fromStack(p.source!);
    source.resourceCountIs('AWS::CodeCommit::Repository', 1);
    source.hasResourceProperties('AWS::Events::Rule', {
      Targets: Match.arrayWith([
        Match.objectLike({
          Arn: { 'Fn::Join': ['', Match.arrayWith([':events:ap-southeast-7:123456789012:event-bus/default'])] },
          DeadLetterConfig: Match.anyValue(),
        }),
      ]),
    });
    Template.fromStack(p.pipeline).resourceCountIs('AWS::CodeCommit::Repository', 0);
  });

  test('without source_region synth fails, naming the resource, the region and the key (the check is live)', () => {
    const p = build({ pipeline_region: 'ap-southeast-7', source_region: '' });
    expect(() => p.app.synth()).toThrow(
      /AWS::CodeCommit::Repository \(InvisiblePipeline\/Repository\/Resource\) does not exist in ap-southeast-7 \(cfn-lint [\d.]+ .*\): set the context key source_region \(or build_region\) to a region with CodeCommit \(e\.g\. ap-southeast-1\)/,
    );
  });
});

describe('intent', () => {
  test('artifact bucket: SSE-KMS with the key, bucket key, TLS only, other keys denied, lifecycle', () => {
    const { t } = template();
    t.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          Match.objectLike({
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: Match.anyValue() },
          }),
        ],
      },
      VersioningConfiguration: { Status: 'Enabled' },
      LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'bundles/' }),
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }),
          Match.objectLike({ TagFilters: [{ Key: 'invisible-pipeline-status', Value: 'Failed' }], ExpirationInDays: 30 }),
          Match.objectLike({ TagFilters: [{ Key: 'invisible-pipeline-status', Value: 'Succeeded' }], ExpirationInDays: 400 }),
          Match.objectLike({ TagFilters: [{ Key: 'invisible-pipeline-status', Value: 'Pending' }], ExpirationInDays: 90 }),
          Match.objectLike({ ExpiredObjectDeleteMarker: true }),
        ]),
      },
    });
    t.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({
            Sid: 'DenyOtherKmsKeys',
            Effect: 'Deny',
            Action: 's3:PutObject',
            Condition: { StringNotEqualsIfExists: { 's3:x-amz-server-side-encryption-aws-kms-key-id': Match.anyValue() } },
          }),
        ]),
      },
    });
    t.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true, Description: Match.stringLikeRegexp('revision bundles') });
    // The bundles a rollback needs (tagged Live by the binary) never expire.
    const [bundles] = Object.values(t.findResources('AWS::S3::Bucket', { Properties: { VersioningConfiguration: { Status: 'Enabled' }, LoggingConfiguration: { LogFilePrefix: 'bundles/' } } }));
    expect(JSON.stringify(bundles.Properties.LifecycleConfiguration)).not.toContain('"Live"');
  });

  test('access-log bucket: SSE-S3, TLS only, no encryption-header deny', () => {
    const { t } = template();
    const buckets = t.findResources('AWS::S3::Bucket', {
      Properties: { BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] } },
    });
    const logBucket = Object.keys(buckets).find((id) => id.startsWith('ArtifactsAccessLogs'));
    expect(logBucket).toBeDefined();
    const policies = t.findResources('AWS::S3::BucketPolicy', { Properties: { Bucket: { Ref: logBucket } } });
    const text = JSON.stringify(policies);
    expect(text).toContain('aws:SecureTransport');
    expect(text).not.toContain('x-amz-server-side-encryption');
  });

  test('push rule: StartBuild of the pushed commit with the event time, retries and a DLQ', () => {
    const { t } = template();
    const rules = t.findResources('AWS::Events::Rule', { Properties: { Description: Match.stringLikeRegexp('^Deploy pushes to main') } });
    const [rule] = Object.values(rules);
    expect(rule.Properties.EventPattern.detail.referenceName).toEqual(['main']);
    const [target] = rule.Properties.Targets;
    expect(target.InputTransformer.InputPathsMap).toMatchObject({ 'detail-commitId': '$.detail.commitId', time: '$.time' });
    const input = target.InputTransformer.InputTemplate as string;
    expect(input).toContain('"sourceVersion":<detail-commitId>');
    expect(input).toContain('"name":"PIPELINE_TRIGGER_TIME","value":<time>');
    expect(target.RetryPolicy).toEqual({ MaximumEventAgeInSeconds: 21600, MaximumRetryAttempts: 20 });
    expect(target.DeadLetterConfig.Arn).toBeDefined();
    t.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
  });

  test('release rule deploys the branch head (a branch name: StartBuild takes no refs/heads/); other branches go to the validate project', () => {
    const { t } = template();
    const release = Object.values(t.findResources('AWS::Events::Rule', { Properties: { EventPattern: { source: ['aws.ssm'] } } }))[0];
    expect(release.Properties.EventPattern.detail.name).toEqual(['/invisible-pipeline/app-archive']);
    expect(release.Properties.Targets[0].InputTransformer.InputTemplate).toContain('"sourceVersion":"main"');
    expect(JSON.stringify(release.Properties.Targets[0])).not.toContain('refs/heads/');
    const other = Object.values(
      t.findResources('AWS::Events::Rule', { Properties: { Description: Match.stringLikeRegexp('^Validate pushes') } }),
    )[0];
    expect(other.Properties.EventPattern.detail.referenceName).toEqual([{ 'anything-but': ['main'] }]);
    const projects = t.findResources('AWS::CodeBuild::Project');
    const validateId = Object.keys(projects).find((id) => id.startsWith('BuildValidateProject'))!;
    expect(other.Properties.Targets[0].Arn).toEqual({ 'Fn::GetAtt': [validateId, 'Arn'] });
  });

  test('the release parameter is created once and never owned: no AWS::SSM::Parameter, PutParameter without Overwrite, nothing on update or delete', () => {
    const { t } = template();
    t.resourceCountIs('AWS::SSM::Parameter', 0);
    const [resource] = Object.values(t.findResources('Custom::AWS'));
    const create = JSON.parse(JSON.stringify(resource.Properties.Create));
    const text = JSON.stringify(create);
    expect(text).toContain('\\"action\\":\\"putParameter\\"');
    expect(text).toContain('\\"Overwrite\\":false');
    expect(text).toContain('ParameterAlreadyExists');
    expect(resource.Properties.Update).toBeUndefined();
    expect(resource.Properties.Delete).toBeUndefined();
    const policy = JSON.stringify(
      t.findResources('AWS::IAM::Policy', { Properties: { PolicyName: Match.stringLikeRegexp('^ReleaseCreateArchiveParameter') } }),
    );
    expect(policy).toContain('"ssm:PutParameter"');
    expect(policy).toContain(':parameter/invisible-pipeline/app-archive');
  });

  test('stack updates keep what users own: unnamed deployment configuration, repository retained', () => {
    const { t } = template();
    const [config] = Object.values(t.findResources('AWS::CodeDeploy::DeploymentConfig'));
    expect(config.Properties.DeploymentConfigName).toBeUndefined();
    t.hasResource('AWS::CodeCommit::Repository', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });

  test('least privilege: no wildcard actions, no full-access managed policies, no fixed role names', () => {
    const { t } = template();
    // The only actions on "*": those that have no resource type (Service Authorization Reference).
    const noResourceType = [
      ['codedeploy:BatchGetDeploymentTargets', 'codedeploy:ListDeploymentTargets', 'codedeploy:StopDeployment'],
      ['elasticloadbalancing:DescribeTargetGroupAttributes', 'elasticloadbalancing:DescribeTargetGroups'],
      ['autoscaling:DescribeAutoScalingGroups', 'ec2:DescribeInstances'],
    ].map((a) => JSON.stringify(a));
    for (const s of [...statements(t, 'AWS::IAM::Policy'), ...statements(t, 'AWS::IAM::Role')]) {
      for (const action of [s.Action].flat()) {
        expect(action === '*' || action.endsWith(':*'), `action ${action}`).toBe(false);
      }
      if (s.Effect === 'Allow' && s.Resource === '*') expect(noResourceType, JSON.stringify(s)).toContain(JSON.stringify([s.Action].flat().sort()));
    }
    for (const role of Object.values(t.findResources('AWS::IAM::Role'))) {
      expect(role.Properties.RoleName).toBeUndefined();
      expect(JSON.stringify(role.Properties.ManagedPolicyArns ?? [])).not.toMatch(/Access"/);
    }
  });

  test('build role: exactly what the binary does', () => {
    const { t } = template();
    const text = JSON.stringify(t.findResources('AWS::IAM::Policy', { Properties: { PolicyName: Match.stringLikeRegexp('^BuildProjectRole') } }));
    for (const action of [
      'codedeploy:CreateDeployment',
      'codedeploy:StopDeployment',
      'codedeploy:BatchGetDeploymentTargets',
      's3:AbortMultipartUpload',
      's3:PutObjectTagging',
      'kms:GenerateDataKey',
      'kms:Decrypt',
      'ssm:GetParameter',
    ]) {
      expect(text).toContain(`"${action}"`);
    }
    expect(text).toContain(':deploymentgroup:",{"Ref":"TargetApplicationA25C4C66"},"/",{"Ref":"TargetGroup4E18EF33"}');
    t.hasResourceProperties('AWS::CodeDeploy::DeploymentGroup', { DeploymentGroupName: 'cbdeploygroup', ApplicationName: { Ref: 'TargetApplicationA25C4C66' } });
  });

  test('CodeBuild project: inlined buildspec, secondary tool source, AL2023, no privileged mode, no concurrency limit', () => {
    const { t } = template();
    const project = Object.entries(t.findResources('AWS::CodeBuild::Project')).find(([id]) => id.startsWith('BuildProject'))![1];
    const props = project.Properties;
    expect(parse(props.Source.BuildSpec)).toEqual(parse(readFileSync(buildspecPath, 'utf8')));
    expect(props.Source.Type).toBe('CODECOMMIT');
    expect(props.SecondarySources).toEqual([expect.objectContaining({ Type: 'S3', SourceIdentifier: 'tool' })]);
    // The newest major version of the standard image: the one CodeBuild caches on its hosts.
    expect(props.Environment.Image).toBe('aws/codebuild/amazonlinux-x86_64-standard:6.0');
    expect(props.Environment.ImagePullCredentialsType).toBe('CODEBUILD');
    expect(props.Environment.PrivilegedMode).toBe(false);
    expect(props.Environment.ComputeType).toBe('BUILD_GENERAL1_SMALL');
    expect(props.ConcurrentBuildLimit).toBeUndefined();
    expect(props.TimeoutInMinutes).toBeGreaterThan(60 * 2);
    const env = Object.fromEntries(props.Environment.EnvironmentVariables.map((v: { Name: string; Value: unknown }) => [v.Name, v.Value]));
    expect(Object.keys(env).sort()).toEqual(
      [
        'APP_ARCHIVE_PARAMETER',
        'ARTIFACT_BUCKET',
        'ARTIFACT_KMS_KEY_ID',
        'ARTIFACT_PREFIX',
        'CODEDEPLOY_APPLICATION',
        'CODEDEPLOY_DEPLOYMENT_CONFIG',
        'CODEDEPLOY_DEPLOYMENT_GROUP',
        'IF_BUSY',
        'INVISIBLE_PIPELINE_EXPORT_FILE',
        'NOTIFY_TOPIC_ARN',
        'WAIT_TIMEOUT',
      ].sort(),
    );
    expect(env.INVISIBLE_PIPELINE_EXPORT_FILE).toMatch(/^\/tmp\//);
    expect(env.WAIT_TIMEOUT).toBe('60m');
  });

  test('deployment windows and freezes reach the deploy project, and never the rollback project', () => {
    const { t } = template({
      deploy_windows: ['Mon-Fri 09:00-16:00 Europe/Berlin', 'Sat 22:00-02:00 Europe/Berlin'],
      freeze: ['2026-12-21..2027-01-03 Europe/Berlin'],
      operators: ['arn:aws:iam::123456789012:role/OnCall'],
    });
    const projects = Object.values(t.findResources('AWS::CodeBuild::Project'));
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const envOf = (p: Record<string, any>) =>
      Object.fromEntries(
        (p.Properties.Environment.EnvironmentVariables as { Name: string; Value: unknown }[]).map((v) => [v.Name, v.Value]),
      );
    const envs = projects.map(envOf);
    const deploy = envs.find((e) => e.INVISIBLE_PIPELINE_COMMAND === undefined && e.CODEDEPLOY_DEPLOYMENT_CONFIG !== undefined);
    expect(deploy?.DEPLOY_WINDOW).toBe('Mon-Fri 09:00-16:00 Europe/Berlin;Sat 22:00-02:00 Europe/Berlin');
    expect(deploy?.DEPLOY_FREEZE).toBe('2026-12-21..2027-01-03 Europe/Berlin');
    const rollback = envs.find((e) => e.INVISIBLE_PIPELINE_COMMAND === 'rollback');
    expect(rollback).toBeDefined();
    expect(rollback?.DEPLOY_WINDOW).toBeUndefined();
    // The README's example synthesizes as it stands.
    const readme = readFileSync(join(infraDir, '..', 'README.md'), 'utf8');
    const block = /```json\n(\{\n  "deploy_windows"[\s\S]*?)\n```/.exec(readme);
    expect(block).not.toBeNull();
    const example = template(JSON.parse(block![1]));
    const exampleEnvs = Object.values(example.t.findResources('AWS::CodeBuild::Project')).map(envOf);
    expect(exampleEnvs.some((e) => String(e.DEPLOY_WINDOW ?? '').startsWith('Mon-Thu 09:00-16:00 Europe/Berlin;'))).toBe(true);
    t.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 90, KmsKeyId: Match.anyValue() });
  });

  test('deployment group: EC2 tag key and value, rollback on failure, healthy-host floor', () => {
    const { t } = template({ ec2_tag_key: 'Role', ec2_tag_value: 'web-server' });
    t.hasResourceProperties('AWS::CodeDeploy::DeploymentGroup', {
      DeploymentGroupName: 'cbdeploygroup',
      Ec2TagSet: { Ec2TagSetList: [{ Ec2TagGroup: [{ Key: 'Role', Value: 'web-server', Type: 'KEY_AND_VALUE' }] }] },
      AutoRollbackConfiguration: { Enabled: true, Events: ['DEPLOYMENT_FAILURE'] },
    });
    t.hasResourceProperties('AWS::CodeDeploy::DeploymentConfig', {
      MinimumHealthyHosts: { Type: 'FLEET_PERCENT', Value: 50 },
    });
  });

  test('instances: profile with bundle read and key decrypt, agent kept by State Manager', () => {
    const { t } = template();
    t.resourceCountIs('AWS::IAM::InstanceProfile', 1);
    const text = JSON.stringify(t.findResources('AWS::IAM::Policy', { Properties: { PolicyName: Match.stringLikeRegexp('^TargetInstanceRole') } }));
    expect(text).toContain('"s3:GetObject"');
    expect(text).toContain('"kms:Decrypt"');
    expect(text).toContain('/bundles/*');
    t.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: Match.objectLike({ Statement: [Match.objectLike({ Principal: { Service: 'ec2.amazonaws.com' } })] }),
      ManagedPolicyArns: [{ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/AmazonSSMManagedInstanceCore']] }],
    });
    t.hasResourceProperties('AWS::SSM::Association', {
      Name: 'AWS-ConfigureAWSPackage',
      Parameters: { action: ['Install'], name: ['AWSCodeDeployAgent'] },
      Targets: [{ Key: 'tag:invisible-pipeline', Values: ['web'] }],
    });
  });

  describe('CodeDeploy agent: the chosen major version, polling every second', () => {
    /** The two associations of a synthesized stack. */
    function associations(overrides: Record<string, unknown> = {}) {
      const { t } = template(overrides);
      const all = Object.entries(t.findResources('AWS::SSM::Association'));
      expect(all).toHaveLength(2);
      const [[installId, install], [configureId, configure]] = [
        all.find(([, r]) => r.Properties.Name === 'AWS-ConfigureAWSPackage')!,
        all.find(([, r]) => r.Properties.Name === 'AWS-RunShellScript')!,
      ];
      return { installId, install: install.Properties, configureId, configure, script: configure.Properties.Parameters.commands.join('\n') as string };
    }

    test.each([
      ['default', 'AWSCodeDeployAgent', 1, {}],
      ['codedeploy_agent: 1', 'AWSCodeDeployAgent', 1, { codedeploy_agent: 1 }],
      ['codedeploy_agent: "1"', 'AWSCodeDeployAgent', 1, { codedeploy_agent: '1' }],
      ['codedeploy_agent: 2', 'AWSCodeDeployAgentV2', 2, { codedeploy_agent: 2 }],
      ['codedeploy_agent: "2"', 'AWSCodeDeployAgentV2', 2, { codedeploy_agent: '2' }],
    ])('%s installs %s and configures agent %i.x', (_, pkg, major, overrides) => {
      const { installId, install, configure, script } = associations(overrides);
      // The package of the major version, its latest published version (no version pinned).
      expect(install.Parameters).toEqual({ action: ['Install'], name: [pkg] });
      expect(install.ScheduleExpression).toBe('rate(14 days)');
      expect(configure.Properties.Targets).toEqual(install.Targets);
      expect(configure.Properties.Targets).toEqual([{ Key: 'tag:invisible-pipeline', Values: ['web'] }]);
      expect(configure.Properties.ScheduleExpression).toBe('rate(1 day)');
      expect(configure.DependsOn).toContain(installId);
      expect(script).toBe(agentConfigScript(major as 1 | 2));
      expect(script).toContain(`major=${major}\n`);
      expect(script).toContain('config=/etc/codedeploy-agent/conf/codedeployagent.yml\n');
      expect(script).toContain("setting=':wait_between_runs: 1'\n");
      expect(script).toContain(`package ${pkg})`);
    });

    test('the second group\'s instances get both associations too', () => {
      const { install, configure } = associations({ prod_deployment_group_name: 'prod', prod_ec2_tag_value: 'web-prod' });
      expect(install.Targets).toEqual([{ Key: 'tag:invisible-pipeline', Values: ['web', 'web-prod'] }]);
      expect(configure.Properties.Targets).toEqual(install.Targets);
    });

    test.each([[3], ['v2'], ['2.1'], [true], [[2]]])('codedeploy_agent: %o fails synth naming the key and the values', (value) => {
      expect(() => build({ codedeploy_agent: value })).toThrow(ConfigError);
      expect(() => build({ codedeploy_agent: value })).toThrow(
        `cdk.json context "codedeploy_agent" is ${JSON.stringify(value)}: expected 1 or 2 (the CodeDeploy agent's major version)`,
      );
    });

    test('cdk-nag is clean with agent 2', () => {
      expect(synthFindings(build({ codedeploy_agent: 2 }))).toEqual([]);
    });

    const shellcheck = spawnSync('shellcheck', ['--version']).status === 0;
    test.skipIf(!shellcheck)('the script is shellcheck-clean, as bash and as POSIX sh (shellcheck installed: scripts/test installs it)', () => {
      for (const major of [1, 2] as const) {
        for (const shell of ['bash', 'sh']) {
          const run = spawnSync('shellcheck', ['--shell', shell, '-'], { input: agentConfigScript(major), encoding: 'utf8' });
          expect(run.stdout + run.stderr, `agent ${major}, ${shell}`).toBe('');
          expect(run.status).toBe(0);
        }
      }
    });

    /**
     * Runs the script of agent `major` on a fake instance in a temporary folder: the agent's
     * paths moved under it, `systemctl` and `service` replaced by ones that log, no wait.
     */
    function onFakeInstance(major: 1 | 2, instance: { config?: string; version?: string }) {
      const root = mkdtempSync(join(tmpdir(), 'agent-'));
      const bin = join(root, 'bin');
      mkdirSync(join(root, 'opt', 'bin'), { recursive: true });
      mkdirSync(bin);
      const log = join(root, 'restarts.log');
      for (const tool of ['systemctl', 'service']) {
        writeFileSync(join(bin, tool), `#!/bin/sh\necho "${tool} $*" >>"${log}"\n`);
        chmodSync(join(bin, tool), 0o755);
      }
      const config = join(root, 'codedeployagent.yml');
      if (instance.config !== undefined) {
        writeFileSync(config, instance.config);
        writeFileSync(join(root, 'opt', 'bin', 'codedeploy-agent'), '#!/bin/sh\nexit 1\n');
        chmodSync(join(root, 'opt', 'bin', 'codedeploy-agent'), 0o755);
      }
      if (instance.version !== undefined) writeFileSync(join(root, 'opt', '.version'), instance.version);
      const script = agentConfigScript(major)
        .replaceAll('/etc/codedeploy-agent/conf/codedeployagent.yml', config)
        .replaceAll('/opt/codedeploy-agent', join(root, 'opt'))
        .replace(/^wait_seconds=\d+$/m, 'wait_seconds=0');
      const run = () => {
        const r = spawnSync('bash', ['-c', script], { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
        let restarts = '';
        try {
          restarts = readFileSync(log, 'utf8');
        } catch {
          // none
        }
        return { status: r.status, out: r.stdout + r.stderr, restarts, config: instance.config === undefined ? undefined : readFileSync(config, 'utf8') };
      };
      return run;
    }

    test('2.x: the shipped 30 s becomes 1 s, once: the agent restarts on the first run only', () => {
      const shipped = '---\n# Polling\n:wait_between_runs: 30\n:wait_after_error: 30\n';
      const run = onFakeInstance(2, { config: shipped, version: 'agent_version: 2.1.0' });
      const first = run();
      expect(first.status, first.out).toBe(0);
      expect(first.config).toBe('---\n# Polling\n:wait_between_runs: 1\n:wait_after_error: 30\n');
      expect(first.restarts.trim().split('\n')).toHaveLength(1);
      expect(first.restarts).toMatch(/^(systemctl restart|service) codedeploy-agent/);
      const second = run();
      expect(second.status, second.out).toBe(0);
      expect(second.config).toBe(first.config);
      expect(second.restarts).toBe(first.restarts);
      expect(second.out).toContain('already has :wait_between_runs: 1');
    });

    test('2.x: the key in its plain form, or twice, is replaced by one line; a file without it gains it', () => {
      const plain = onFakeInstance(2, { config: 'wait_between_runs: 30\nverbose: false\n:wait_between_runs: 5\n', version: 'agent_version: 2.0.1' })();
      expect(plain.status, plain.out).toBe(0);
      expect(plain.config).toBe(':wait_between_runs: 1\nverbose: false\n');
      const without = onFakeInstance(2, { config: ':verbose: false', version: 'agent_version: 2.0.1' })();
      expect(without.config).toBe(':verbose: false\n:wait_between_runs: 1\n');
    });

    test('1.x: the sample configuration already polls every second: nothing changes, no restart', () => {
      const sample = '---\n:log_dir: \'/var/log/aws/codedeploy-agent/\'\n:wait_between_runs: 1\n:max_revisions: 5\n';
      const r = onFakeInstance(1, { config: sample, version: 'agent_version: OFFICIAL_1.8.1-20_rpm' })();
      expect(r.status, r.out).toBe(0);
      expect(r.config).toBe(sample);
      expect(r.restarts).toBe('');
      expect(r.out).toContain('major version 1 (expected 1)');
    });

    test('no agent yet: fails with a message naming the install association, changing nothing', () => {
      const r = onFakeInstance(2, {})();
      expect(r.status).toBe(1);
      expect(r.out).toContain('the CodeDeploy agent is not installed');
      expect(r.out).toContain('package AWSCodeDeployAgentV2');
      expect(r.restarts).toBe('');
    });

    test('another major version installed: the setting is written (both read it), and the run fails naming both', () => {
      const r = onFakeInstance(2, { config: ':wait_between_runs: 30\n', version: 'agent_version: OFFICIAL_1.8.1-20_rpm' })();
      expect(r.status).toBe(1);
      expect(r.config).toBe(':wait_between_runs: 1\n');
      expect(r.out).toContain('the instance runs CodeDeploy agent 1.x, but the stack installs 2.x (codedeploy_agent)');
    });
  });

  test('notifications: topic under a customer key EventBridge may use; email only when configured', () => {
    const { t } = template();
    t.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    t.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({ Principal: { Service: 'events.amazonaws.com' }, Action: Match.arrayWith(['kms:Decrypt']) }),
        ]),
      },
    });
    t.resourceCountIs('AWS::SNS::Subscription', 0);
    template({ notification_email: 'ops@example.com' }).t.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
    t.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { source: ['aws.codedeploy'], detail: { state: ['FAILURE', 'SUCCESS'] } },
    });
  });

  test('the validate project of other branches: its role reads the release and nothing else', () => {
    const { t } = template();
    const projects = t.findResources('AWS::CodeBuild::Project');
    const [validateId, validate] = Object.entries(projects).find(([id]) => id.startsWith('BuildValidateProject'))!;
    const env = Object.fromEntries(validate.Properties.Environment.EnvironmentVariables.map((v: { Name: string; Value: unknown }) => [v.Name, v.Value]));
    expect(env.INVISIBLE_PIPELINE_COMMAND).toBe('validate');
    expect(env.ARTIFACT_BUCKET).toBeUndefined();
    const roleId = validate.Properties.ServiceRole['Fn::GetAtt'][0];
    const policies = t.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } });
    const actions = Object.values(policies).flatMap((p) =>
      (p.Properties.PolicyDocument.Statement as Statement[]).flatMap((st) => [st.Action].flat()),
    );
    for (const action of actions) {
      expect(action, `${validateId} may ${action}`).not.toMatch(/^codedeploy:|^s3:(Put|Delete|Abort)|^kms:GenerateDataKey/);
    }
    expect(actions).toContain('s3:GetObject');
    expect(actions).toContain('ssm:GetParameter');
  });

  test('build failures of every project are told, timeouts and faults included', () => {
    const { t } = template();
    const rule = Object.values(
      t.findResources('AWS::Events::Rule', { Properties: { Description: Match.stringLikeRegexp('build failed') } }),
    )[0];
    expect(rule.Properties.EventPattern.detail['build-status'].sort()).toEqual(['FAILED', 'FAULT', 'STOPPED', 'TIMED_OUT']);
    // deploy, validate, rollback
    expect(rule.Properties.EventPattern.detail['project-name']).toHaveLength(3);
  });

  test('CloudWatch alarms may publish to the encrypted topic: key and topic policies, limited to the account\'s alarms', () => {
    const { t } = template();
    const alarmArn = Match.objectLike({
      'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp(':cloudwatch:ap-southeast-1:123456789012:alarm:\\*$')])],
    });
    t.hasResourceProperties('AWS::KMS::Key', {
      Description: 'invisible-pipeline: notifications topic',
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            Condition: { ArnLike: { 'aws:SourceArn': alarmArn } },
          }),
        ]),
      },
    });
    t.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Condition: { ArnLike: { 'aws:SourceArn': alarmArn } },
          }),
        ]),
      },
    });
  });

  test('the source region\'s forwarding dead-letter queue alarms to a topic of its own region', () => {
    const p = build({ pipeline_region: 'ap-southeast-7', source_region: 'ap-southeast-1', notification_email: 'ops@example.com' });
    const source = Template.fromStack(p.source!);
    const [queueId] = Object.keys(source.findResources('AWS::SQS::Queue'));
    const [topicId] = Object.keys(source.findResources('AWS::SNS::Topic'));
    source.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
      AlarmActions: [{ Ref: topicId }],
    });
    source.hasResourceProperties('AWS::SNS::Subscription', { Endpoint: 'ops@example.com' });
    source.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Principal: { Service: 'cloudwatch.amazonaws.com' } })]) },
    });
  });

  test('repository in another region: the build clones the pushed commit (GitPull there), no cross-region CodeCommit source', () => {
    const p = build({ pipeline_region: 'ap-southeast-7', source_region: 'ap-southeast-1' });
    const t = Template.fromStack(p.pipeline);
    for (const project of Object.values(t.findResources('AWS::CodeBuild::Project'))) {
      expect(project.Properties.Source.Type).toBe('S3');
      expect(project.Properties.SecondarySources).toBeUndefined();
      const env = Object.fromEntries(project.Properties.Environment.EnvironmentVariables.map((v: { Name: string; Value: unknown }) => [v.Name, v.Value]));
      if (env.INVISIBLE_PIPELINE_COMMAND === 'rollback') {
        // It deploys what is in S3 again: no checkout at all.
        expect(env.INVISIBLE_PIPELINE_CLONE_URL).toBeUndefined();
        continue;
      }
      expect(JSON.stringify(env.INVISIBLE_PIPELINE_CLONE_URL)).toContain('git-codecommit.ap-southeast-1.');
    }
    const gitPull = statements(t, 'AWS::IAM::Policy').filter((st) => [st.Action].flat().includes('codecommit:GitPull'));
    expect(gitPull).toHaveLength(2);
    for (const st of gitPull) expect(JSON.stringify(st.Resource)).toContain(':codecommit:ap-southeast-1:123456789012:app-dev-repo');
    const push = Object.values(t.findResources('AWS::Events::Rule', { Properties: { Description: Match.stringLikeRegexp('^Deploy pushes') } }))[0];
    const input = push.Properties.Targets[0].InputTransformer.InputTemplate as string;
    expect(input).toContain('"name":"INVISIBLE_PIPELINE_SOURCE_VERSION","value":<detail-commitId>');
    expect(input).not.toContain('sourceVersion');
  });

  test('a trigger in the dead-letter queue raises an alarm to the topic', () => {
    const { t } = template();
    const [queueId] = Object.keys(t.findResources('AWS::SQS::Queue'));
    const [topicId] = Object.keys(t.findResources('AWS::SNS::Topic'));
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      AlarmActions: [{ Ref: topicId }],
    });
  });

  test('rollback project: started by hand, only by the operators, its role deploys again and builds nothing', () => {
    const operator = 'arn:aws:iam::123456789012:role/OnCall';
    const { t } = template({ operators: [operator] });
    const projects = t.findResources('AWS::CodeBuild::Project', {
      Properties: { Environment: { EnvironmentVariables: Match.arrayWith([{ Name: 'INVISIBLE_PIPELINE_COMMAND', Type: 'PLAINTEXT', Value: 'rollback' }]) } },
    });
    const [id] = Object.keys(projects);
    expect(id).toBeDefined();
    expect(projects[id].Properties.Source.Type).toBe('S3');
    // Exactly one policy grants StartBuild on it: the operators', attached to their role.
    const starters = Object.values(t.findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p.Properties.PolicyDocument).includes('codebuild:StartBuild') &&
      JSON.stringify(p.Properties.PolicyDocument.Statement.map((st: { Resource: unknown }) => st.Resource)).includes(id),
    );
    expect(starters).toHaveLength(1);
    expect(starters[0].Properties.Roles).toEqual(['OnCall']);
    // Its role: no upload, no deletion, no use of the bundle key (only of the notification
    // topic's, to publish its outcome); CreateDeployment on the group only.
    const roleId = projects[id].Properties.ServiceRole['Fn::GetAtt'][0];
    const own = Object.values(t.findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p.Properties.Roles).includes(roleId),
    );
    const sts: Statement[] = own.flatMap((p) => p.Properties.PolicyDocument.Statement);
    const actions = sts.flatMap((st) => [st.Action].flat());
    for (const forbidden of ['s3:PutObject', 's3:DeleteObject', 's3:DeleteObjectVersion', 'ssm:GetParameter']) {
      expect(actions).not.toContain(forbidden);
    }
    const topicKey = Object.keys(t.findResources('AWS::KMS::Key', { Properties: { Description: 'invisible-pipeline: notifications topic' } }))[0];
    const keyUse = sts.filter((st) => [st.Action].flat().some((a) => a.startsWith('kms:')));
    expect(keyUse.map((st) => st.Resource)).toEqual([{ 'Fn::GetAtt': [topicKey, 'Arn'] }]);
    expect(actions).toContain('codedeploy:CreateDeployment');
  });

  test('promotion: a second group with its own tag and configuration, a project only the approvers start, deploying to that group only', () => {
    const approvers = ['arn:aws:iam::123456789012:role/ReleaseManager', 'arn:aws:iam::123456789012:group/Approvers'];
    const p = build({ prod_deployment_group_name: 'prod', prod_ec2_tag_value: 'web-prod', prod_min_healthy_hosts_percent: 75, approvers });
    const t = Template.fromStack(p.pipeline);
    t.hasResourceProperties('AWS::CodeDeploy::DeploymentGroup', {
      DeploymentGroupName: 'prod',
      Ec2TagSet: { Ec2TagSetList: [{ Ec2TagGroup: [{ Key: 'invisible-pipeline', Value: 'web-prod', Type: 'KEY_AND_VALUE' }] }] },
    });
    t.hasResourceProperties('AWS::CodeDeploy::DeploymentConfig', {
      MinimumHealthyHosts: { Type: 'FLEET_PERCENT', Value: 75 },
    });
    const projects = t.findResources('AWS::CodeBuild::Project', {
      Properties: { Environment: { EnvironmentVariables: Match.arrayWith([{ Name: 'INVISIBLE_PIPELINE_COMMAND', Type: 'PLAINTEXT', Value: 'promote' }]) } },
    });
    const [id] = Object.keys(projects);
    const env = Object.fromEntries(
      projects[id].Properties.Environment.EnvironmentVariables.map((v: { Name: string; Value: unknown }) => [v.Name, v.Value]),
    );
    const groupId = (name: string) =>
      Object.keys(t.findResources('AWS::CodeDeploy::DeploymentGroup', { Properties: { DeploymentGroupName: name } }))[0];
    const [first, prod] = [groupId('cbdeploygroup'), groupId('prod')];
    expect(env.PROMOTE_FROM_GROUP).toEqual({ Ref: first });
    expect(env.PROMOTE_TO_GROUP).toEqual({ Ref: prod });
    const starters = Object.values(t.findResources('AWS::IAM::Policy')).filter((pol) =>
      JSON.stringify(pol.Properties.PolicyDocument).includes('codebuild:StartBuild') &&
      JSON.stringify(pol.Properties.PolicyDocument.Statement.map((st: { Resource: unknown }) => st.Resource)).includes(id),
    );
    expect(starters).toHaveLength(1);
    expect(starters[0].Properties.Roles).toEqual(['ReleaseManager']);
    expect(starters[0].Properties.Groups).toEqual(['Approvers']);
    // CreateDeployment only in the second group; the first one is only read.
    const roleId = projects[id].Properties.ServiceRole['Fn::GetAtt'][0];
    const own = Object.values(t.findResources('AWS::IAM::Policy')).filter((pol) => JSON.stringify(pol.Properties.Roles).includes(roleId));
    const sts: Statement[] = own.flatMap((pol) => pol.Properties.PolicyDocument.Statement);
    const create = sts.filter((st) => [st.Action].flat().includes('codedeploy:CreateDeployment'));
    expect(create).toHaveLength(1);
    expect(JSON.stringify(create[0].Resource)).toContain('deploymentgroup:');
    expect(JSON.stringify(create[0].Resource)).toContain(prod);
    expect(JSON.stringify(create[0].Resource)).not.toContain(first);
    // The end of a promotion says what and who started it.
    const told = Object.values(
      t.findResources('AWS::Events::Rule', { Properties: { Description: Match.stringLikeRegexp('promotion of cbdeploygroup to prod') } }),
    );
    expect(told).toHaveLength(1);
    expect(JSON.stringify(told[0].Properties.Targets[0].InputTransformer)).toContain('$.detail.additional-information.initiator');
    expect(synthFindings(p)).toEqual([]);
  });

  test('promotion settings without a second group are refused with the key that fixes it', () => {
    expect(() => build({ approvers: ['arn:aws:iam::123456789012:role/X'] })).toThrow(/prod_deployment_group_name/);
    expect(() => build({ prod_deployment_group_name: 'prod', prod_ec2_tag_value: 'p', approvers: ['ReleaseManager'] })).toThrow(
      /approvers.*role or group ARNs/,
    );
  });

  test('template snapshot', () => {
    expect(template().t.toJSON()).toMatchSnapshot();
  });
});

describe('configuration', () => {
  test.each([
    [{ pipeline_account: undefined }, 'context "pipeline_account" is missing'],
    [{ pipeline_account: 'XXXXXXXXXXXX' }, 'context "pipeline_account" is "XXXXXXXXXXXX": expected a 12-digit AWS account id'],
    [{ pipeline_region: 'Mars' }, 'context "pipeline_region" is "Mars"'],
    [{ ec2_tag_kye: 'web' }, 'cdk.json context "ec2_tag_kye" is not a key of this app: did you mean "ec2_tag_key"?'],
    [{ notification_mail: 'ops@example.com' }, 'did you mean "notification_email"?'],
    [{ completely_unrelated: 1 }, 'cdk.json context "completely_unrelated" is not a key of this app (the keys'],
    [{ configName: 'x'.repeat(71) }, 'context "configName"'],
    [{ if_busy: 'sometimes' }, 'expected wait, stop-active or fail'],
    [{ notification_email: 'not-an-email' }, 'context "notification_email"'],
    [{ repo_exists: 'maybe' }, 'expected true or false'],
    [{ deploy_windows: ['Mon-Fry 09:00-16:00 Europe/Berlin'] }, 'context "deploy_windows" has "Mon-Fry 09:00-16:00 Europe/Berlin": expected DAYS HH:MM-HH:MM ZONE'],
    [{ deploy_windows: ['Mon-Fri 09:00-16:00 Europe/Berlinn'] }, 'with a time zone of the IANA database'],
    [{ deploy_windows: ['Mon-Fri 9:00-16:00 UTC'] }, 'context "deploy_windows"'],
    [{ freeze: ['2027-01-03..2026-12-21 UTC'] }, 'context "freeze" has "2027-01-03..2026-12-21 UTC": it ends before it starts'],
  ])('%o fails synth naming the key', (overrides, message) => {
    expect(() => build(overrides)).toThrow(ConfigError);
    expect(() => build(overrides)).toThrow(message);
  });

  test("the original sample's cdk.json context synthesizes unchanged (pipeline_account aside)", () => {
    const sample = JSON.parse(readFileSync(join(infraDir, 'test', 'fixtures', 'sample-cdk.json'), 'utf8')).context;
    const outdir = mkdtempSync(join(tmpdir(), 'cdk-out-'));
    const app = new App({ outdir, context: { ...sample, pipeline_account: '123456789012' } });
    const { pipeline } = createPipeline(app, { toolDir: join(infraDir, 'test', 'fixtures', 'tool'), buildspecPath });
    app.synth();
    const t = Template.fromStack(pipeline);
    // ec2_tag_key alone is the value of the tag Name, as in the sample.
    t.hasResourceProperties('AWS::CodeDeploy::DeploymentGroup', {
      DeploymentGroupName: 'cbdeploygroup',
      Ec2TagSet: { Ec2TagSetList: [{ Ec2TagGroup: [{ Key: 'Name', Value: 'test-vm', Type: 'KEY_AND_VALUE' }] }] },
    });
    t.hasResourceProperties('AWS::CodeDeploy::DeploymentConfig', { DeploymentConfigName: 'cbdeployconfig-min-healthy-50' });
    t.hasResourceProperties('AWS::CodeBuild::Project', { Name: 'CodeBuildProject' });
    const infos = Annotations.fromStack(pipeline).findInfo('*', Match.anyValue()).map((m) => String(m.entry.data));
    expect(infos.some((m) => m.includes('targets the instances whose tag Name is "test-vm"'))).toBe(true);
    expect(infos.some((m) => m.includes('named "cbdeployconfig-min-healthy-50"'))).toBe(true);
    expect(nagFindings(outdir)).toEqual([]);
  });

  test('a missing release binary is named', () => {
    const { app } = makeApp();
    expect(() => createPipeline(app, { toolDir: '/nonexistent/tool', buildspecPath })).toThrow('run scripts/build-release first');
  });
});
