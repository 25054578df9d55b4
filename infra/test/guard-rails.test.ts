/**
 * Guard rails (issue 23, the stack's side): alarms that stop and roll back a deployment (`alarms`,
 * `create_default_alarms`, the target group lookup's handler against a double of the API) and
 * branch environments (`branches`: the groups, the rules' patterns, BRANCH_GROUPS and
 * PIPELINE_BRANCH, GitHub's filter groups, IAM); the outcome the binary publishes (the topic
 * in NOTIFY_TOPIC_ARN, its IAM, the pipeline region's topic by its fixed name from a build in
 * another region); each README example as it stands. With
 * TEMPLATES_OUT set, the README examples' templates are written there for cfn-lint and checkov
 * (scripts/test-infra).
 */
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { ConfigError } from '../lib/config.js';
import type * as Lookup from '../lib/constructs/target-group-metrics/index.js';
import { notificationNames } from '../lib/shared/fixed-names.js';
import { build, flatten, infraDir, nagFindings, repoRoot } from './helpers.js';

const lookupHandler = createRequire(import.meta.url)('../lib/constructs/target-group-metrics/index.js') as typeof Lookup;

/** cdk.json's context without its tag: the target keys of a test come from the test. */
const noTag = { ec2_tag_key: undefined, ec2_tag_value: undefined };

function stack(overrides: Record<string, unknown>) {
  const p = build(overrides);
  return { p, t: Template.fromStack(p.pipeline) };
}

type Resource = { Type: string; Properties: Record<string, any>; DependsOn?: string[] }; // eslint-disable-line @typescript-eslint/no-explicit-any
type Statement = { Sid?: string; Action: string | string[]; Resource: unknown; Effect: string };

/** The deployment groups of a template, by name. */
function groups(t: Template): Record<string, Record<string, unknown>> {
  return Object.fromEntries(
    Object.values(t.findResources('AWS::CodeDeploy::DeploymentGroup')).map((r) => [r.Properties.DeploymentGroupName as string, r.Properties]),
  );
}

/** The environment of the project running `command` (the deploy project: none). */
function env(t: Template, command?: string): Record<string, unknown> {
  const project = Object.values(t.findResources('AWS::CodeBuild::Project')).find((r) => {
    const vars = r.Properties.Environment.EnvironmentVariables as { Name: string; Value: unknown }[];
    return vars.find((v) => v.Name === 'INVISIBLE_PIPELINE_COMMAND')?.Value === command;
  })!;
  return Object.fromEntries(project.Properties.Environment.EnvironmentVariables.map((v: { Name: string; Value: unknown }) => [v.Name, v.Value]));
}

/** The Allow statements of the role of the project running `command`. */
function projectStatements(t: Template, command?: string): Statement[] {
  const [, project] = Object.entries(t.findResources('AWS::CodeBuild::Project')).find(([, r]) => {
    const vars = r.Properties.Environment.EnvironmentVariables as { Name: string; Value: unknown }[];
    return vars.find((v) => v.Name === 'INVISIBLE_PIPELINE_COMMAND')?.Value === command;
  })!;
  const roleId = project.Properties.ServiceRole['Fn::GetAtt'][0];
  return Object.values(t.findResources('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify(p.Properties.Roles).includes(`"${roleId}"`))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
}

function rule(t: Template, description: RegExp): Resource {
  const rules = Object.values(t.findResources('AWS::Events::Rule')).filter((r) => description.test(r.Properties.Description ?? ''));
  expect(rules, String(description)).toHaveLength(1);
  return rules[0] as Resource;
}

/** The CodeBuild StartBuild input a rule's target gives, with the event's fields in place. */
function startInput(r: Resource, event: Record<string, unknown>): Record<string, unknown> {
  const { InputPathsMap: paths, InputTemplate: template } = r.Properties.Targets[0].InputTransformer;
  let text = template as string;
  for (const [name, path] of Object.entries(paths as Record<string, string>)) {
    const value = (path as string).slice(2).split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], event);
    text = text.replaceAll(`<${name}>`, JSON.stringify(value));
  }
  return JSON.parse(text);
}

/**
 * EventBridge's matching of the operators the rules use (exact values, `prefix`, `anything-but` of
 * a value, a list or a prefix or prefix list), per the EventBridge guide and Event Ruler's README:
 * fields ANDed, a field's values ORed.
 */
function matches(pattern: Record<string, unknown>, event: Record<string, unknown>): boolean {
  return Object.entries(pattern).every(([field, want]) => {
    const have = event[field];
    if (!Array.isArray(want)) return typeof have === 'object' && have !== null && matches(want as Record<string, unknown>, have as Record<string, unknown>);
    const values = Array.isArray(have) ? have : [have];
    return want.some((w) =>
      values.some((v) => {
        if (typeof w !== 'object' || w === null) return v === w;
        const op = w as Record<string, unknown>;
        if ('prefix' in op) return typeof v === 'string' && v.startsWith(op.prefix as string);
        if ('anything-but' in op) {
          const not = op['anything-but'];
          if (typeof not === 'object' && not !== null && !Array.isArray(not)) {
            const prefixes = [(not as { prefix: string | string[] }).prefix].flat();
            return typeof v === 'string' && !prefixes.some((p) => v.startsWith(p));
          }
          return ![not].flat().includes(v);
        }
        throw new Error(`operator ${JSON.stringify(w)} not simulated`);
      }),
    );
  });
}

/** A CodeCommit push event of `branch` ("referenceUpdated", CodeCommit's EventBridge events). */
function push(branch: string): Record<string, unknown> {
  return {
    source: 'aws.codecommit',
    'detail-type': 'CodeCommit Repository State Change',
    resources: ['arn:aws:codecommit:ap-southeast-1:123456789012:app-dev-repo'],
    time: '2026-12-01T10:00:00Z',
    detail: { event: 'referenceUpdated', referenceType: 'branch', referenceName: branch, referenceFullName: `refs/heads/${branch}`, commitId: 'c0ffee' },
  };
}

/** The rule's pattern with the repository ARN in place (the template has a GetAtt). */
function patternOf(r: Resource): Record<string, unknown> {
  return { ...r.Properties.EventPattern, resources: ['arn:aws:codecommit:ap-southeast-1:123456789012:app-dev-repo'] };
}

/** The binary's choice (src/app/branches.rs): the exact pattern's group, else the longest prefix's. */
function groupFor(branchGroups: string, branch: string): string | undefined {
  const entries = branchGroups.split(';').map((e) => {
    const at = e.indexOf('=');
    return { pattern: e.slice(0, at), group: e.slice(at + 1) };
  });
  const exact = entries.find((e) => !e.pattern.endsWith('*') && e.pattern === branch);
  if (exact) return exact.group;
  const prefixes = entries.filter((e) => e.pattern.endsWith('*') && branch.startsWith(e.pattern.slice(0, -1)));
  return prefixes.sort((a, b) => b.pattern.length - a.pattern.length)[0]?.group;
}

describe('README examples: each as it stands', () => {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const examples = [...readme.matchAll(/<!-- guard-rail-example: ([a-z-]+) -->\n```json\n([\s\S]*?)\n```/g)].map((m) => ({
    name: m[1],
    context: JSON.parse(m[2]) as Record<string, unknown>,
  }));

  test('the README has the three examples', () => {
    expect(examples.map((e) => e.name)).toEqual(['alarms', 'default-alarms', 'branches']);
  });

  test.each(examples.map((e) => [e.name, e.context] as const))('%s synthesizes, cdk-nag clean', (name, context) => {
    const p = build(context);
    p.app.synth();
    expect(nagFindings(p.outdir)).toEqual([]);
    const out = process.env.TEMPLATES_OUT;
    if (out) {
      mkdirSync(out, { recursive: true });
      for (const file of readdirSync(p.outdir).filter((f) => f.endsWith('.template.json'))) {
        cpSync(join(p.outdir, file), join(out, `readme-guard-${name}-${file}`));
      }
    }
  });

  test('the default alarms example makes the pair of its target group and names its alarm', () => {
    const context = examples.find((e) => e.name === 'default-alarms')!.context;
    const { t } = stack(context);
    t.resourceCountIs('AWS::CloudWatch::Alarm', 2 + 1); // the pair, and the lost-trigger alarm
    const names = (groups(t).cbdeploygroup.AlarmConfiguration as { Alarms: { Name: unknown }[] }).Alarms.map((a) => a.Name);
    expect(names[0]).toBe((context.alarms as string[])[0]);
    expect(names).toHaveLength(3);
  });
});

describe('alarms: every group stops and rolls back on them', () => {
  const withAll = {
    alarms: ['web-p99-latency', 'web-error-budget'],
    prod_deployment_group_name: 'prod',
    prod_ec2_tag_value: 'web-prod',
    branches: { develop: 'web-dev' },
  };

  test('the in-place, second and branch groups: the alarms, enabled, ignorePollAlarmFailure false; DEPLOYMENT_FAILURE and DEPLOYMENT_STOP_ON_ALARM', () => {
    const { t } = stack(withAll);
    const all = groups(t);
    expect(Object.keys(all).sort()).toEqual(['cbdeploygroup', 'prod', 'web-dev']);
    for (const [name, group] of Object.entries(all)) {
      expect(group.AlarmConfiguration, name).toEqual({ Alarms: [{ Name: 'web-p99-latency' }, { Name: 'web-error-budget' }], Enabled: true, IgnorePollAlarmFailure: false });
      expect(group.AutoRollbackConfiguration, name).toEqual({ Enabled: true, Events: ['DEPLOYMENT_FAILURE', 'DEPLOYMENT_STOP_ON_ALARM'] });
    }
  });

  test('without alarms, as before: no alarm configuration, rollback on failure only (a stop by a newer run does not roll back)', () => {
    const { t } = stack({ prod_deployment_group_name: 'prod', prod_ec2_tag_value: 'web-prod' });
    for (const group of Object.values(groups(t))) {
      expect(group.AlarmConfiguration).toBeUndefined();
      expect(group.AutoRollbackConfiguration).toEqual({ Enabled: true, Events: ['DEPLOYMENT_FAILURE'] });
    }
    t.resourceCountIs('AWS::CloudWatch::Alarm', 1);
    t.resourceCountIs('Custom::InvisiblePipelineTargetGroupMetrics', 0);
  });

  test('blue/green: the custom resource creates the group with the alarm configuration and DEPLOYMENT_STOP_ON_ALARM', () => {
    const { t } = stack({ ...noTag, deployment_style: 'blue_green', auto_scaling_groups: ['web-asg'], target_groups: ['web-tg'], alarms: ['web-p99-latency'], create_default_alarms: true });
    const [resource] = Object.values(t.findResources('Custom::InvisiblePipelineBlueGreenGroup'));
    const request = JSON.parse(flatten(resource.Properties.Group));
    expect(request.autoRollbackConfiguration).toEqual({ enabled: true, events: ['DEPLOYMENT_FAILURE', 'DEPLOYMENT_STOP_ON_ALARM'] });
    const alarmIds = Object.keys(t.findResources('AWS::CloudWatch::Alarm', { Properties: { AlarmName: Match.stringLikeRegexp('^cbdeployapplication-tg-') } }));
    expect(request.alarmConfiguration).toEqual({
      enabled: true,
      alarms: [{ name: 'web-p99-latency' }, ...alarmIds.map((id) => ({ name: `<${id}>` }))],
      ignorePollAlarmFailure: false,
    });
    // The copied Auto Scaling group changes its name at every deployment: no alarm on it.
    t.resourceCountIs('AWS::CloudWatch::Alarm', 2 + 1);
  });

  test('the names are checked: 1 to 255 characters, none twice, strings', () => {
    for (const [alarms, message] of [
      [['a', 'a'], '"alarms" has "a" twice'],
      [[''], '"alarms" has ""'],
      [['x'.repeat(256)], `"alarms" has "${'x'.repeat(256)}": expected CloudWatch alarm names of the pipeline region, 1 to 255 characters each`],
      [['  '], '"alarms" has "  "'],
      [[42], '"alarms" has 42'],
    ] as const) {
      expect(() => build({ alarms })).toThrow(ConfigError);
      expect(() => build({ alarms })).toThrow(message);
    }
    // The command line's form: one comma-separated string.
    expect(groups(stack({ alarms: 'web-a, web-b' }).t).cbdeploygroup.AlarmConfiguration).toMatchObject({ Alarms: [{ Name: 'web-a' }, { Name: 'web-b' }] });
  });

  test('at most 10, the default alarms counted: the error names both keys and says how they count', () => {
    const eleven = Array.from({ length: 11 }, (_, i) => `alarm-${i}`);
    expect(() => build({ alarms: eleven })).toThrow('"alarms" has 11 entries: CodeDeploy takes at most 10');
    const five = Array.from({ length: 5 }, (_, i) => `alarm-${i}`);
    const fleet = { ...noTag, auto_scaling_groups: ['web-asg'], target_groups: ['web-tg', 'api-tg'] };
    // 5 + 5 = 10 is the limit itself: it synthesizes; one more does not.
    expect(() => build({ ...fleet, alarms: five, create_default_alarms: true })).not.toThrow();
    expect(() => build({ ...fleet, alarms: [...five, 'one-more'], create_default_alarms: true })).toThrow(
      'cdk.json context "alarms" (6) and "create_default_alarms" (5: two per target group and per Classic Load Balancer, one per Auto Scaling group) make 11 alarms: CodeDeploy takes at most 10',
    );
    expect(() => build({ ...noTag, auto_scaling_groups: ['a'], target_groups: Array.from({ length: 5 }, (_, i) => `tg-${i}`), create_default_alarms: true })).toThrow(
      '"create_default_alarms" (11:',
    );
  });

  test('an alarm of "alarms" with a default alarm\'s name is refused', () => {
    expect(() => build({ target_groups: ['web-tg'], create_default_alarms: true, alarms: ['cbdeployapplication-tg-web-tg-target-5xx'] })).toThrow(
      '"alarms" has "cbdeployapplication-tg-web-tg-target-5xx", the name of a default alarm',
    );
  });
});

describe('create_default_alarms: a pair for the fleet', () => {
  test('a target group: unhealthy hosts and the targets\' 5xx share, with the TargetGroup and LoadBalancer dimensions the lookup gives, notifying the topic', () => {
    const { t } = stack({ target_groups: ['web-tg'], create_default_alarms: true, notification_email: 'ops@example.com' });
    const [lookupId, lookup] = Object.entries(t.findResources('Custom::InvisiblePipelineTargetGroupMetrics'))[0];
    expect(lookup.Properties.TargetGroups).toEqual(['web-tg']);
    const att = (name: string) => ({ 'Fn::GetAtt': [lookupId, `web-tg.${name}`] });
    const [topicId] = Object.keys(t.findResources('AWS::SNS::Topic'));
    const dimensions = [
      { Name: 'LoadBalancer', Value: att('LoadBalancer') },
      { Name: 'TargetGroup', Value: att('TargetGroup') },
    ];
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'cbdeployapplication-tg-web-tg-unhealthy-hosts',
      Namespace: att('Namespace'),
      MetricName: 'UnHealthyHostCount',
      Dimensions: dimensions,
      Statistic: 'Maximum',
      Period: 60,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 2,
      DatapointsToAlarm: 2,
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: topicId }],
    });
    const metric = (name: string) => ({ Metric: { Namespace: att('Namespace'), MetricName: name, Dimensions: dimensions }, Period: 60, Stat: 'Sum' });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'cbdeployapplication-tg-web-tg-target-5xx',
      Metrics: [
        Match.objectLike({ Expression: 'IF(FILL(errors, 0) >= 5, 100 * FILL(errors, 0) / requests, 0)', ReturnData: true }),
        { Id: 'errors', MetricStat: metric('HTTPCode_Target_5XX_Count'), ReturnData: false },
        { Id: 'requests', MetricStat: metric('RequestCount'), ReturnData: false },
      ],
      Threshold: 5,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 2,
      DatapointsToAlarm: 2,
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: topicId }],
    });
  });

  test('a Classic Load Balancer: the same pair, by LoadBalancerName (no lookup); an Auto Scaling group: StatusCheckFailed of the group', () => {
    const { t } = stack({ ...noTag, auto_scaling_groups: ['web-asg'], classic_load_balancers: ['web-elb'], create_default_alarms: true });
    t.resourceCountIs('Custom::InvisiblePipelineTargetGroupMetrics', 0);
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'cbdeployapplication-elb-web-elb-unhealthy-hosts',
      Namespace: 'AWS/ELB',
      MetricName: 'UnHealthyHostCount',
      Dimensions: [{ Name: 'LoadBalancerName', Value: 'web-elb' }],
    });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'cbdeployapplication-elb-web-elb-target-5xx',
      Metrics: Match.arrayWith([Match.objectLike({ Id: 'errors', MetricStat: Match.objectLike({ Metric: Match.objectLike({ Namespace: 'AWS/ELB', MetricName: 'HTTPCode_Backend_5XX' }) }) })]),
    });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'cbdeployapplication-asg-web-asg-status-check-failed',
      Namespace: 'AWS/EC2',
      MetricName: 'StatusCheckFailed',
      Dimensions: [{ Name: 'AutoScalingGroupName', Value: 'web-asg' }],
      Statistic: 'Maximum',
      Period: 60,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 2,
      Threshold: 0,
    });
    const names = (groups(t).cbdeploygroup.AlarmConfiguration as { Alarms: { Name: { Ref: string } }[] }).Alarms.map((a) => a.Name.Ref);
    expect(names).toHaveLength(3);
  });

  test('instances by tag alone: no alarm, and a synth note that says so', () => {
    const { p, t } = stack({ create_default_alarms: true });
    t.resourceCountIs('AWS::CloudWatch::Alarm', 1);
    expect(groups(t).cbdeploygroup.AlarmConfiguration).toBeUndefined();
    const infos = Annotations.fromStack(p.pipeline).findInfo('*', Match.anyValue()).map((m) => String(m.entry.data));
    expect(infos.some((m) => m.includes('"create_default_alarms" is true, but the deployment group\'s fleet has no target group, Classic Load Balancer or Auto Scaling group'))).toBe(true);
  });

  test('the lookup: one resource for every target group, its provider may DescribeTargetGroups only, cdk-nag clean', () => {
    const p = build({ ...noTag, auto_scaling_groups: ['web-asg'], target_groups: ['web-tg', 'arn:aws:elasticloadbalancing:ap-southeast-1:123456789012:targetgroup/api-tg/0123456789abcdef'], create_default_alarms: true });
    const t = Template.fromStack(p.pipeline);
    t.resourceCountIs('Custom::InvisiblePipelineTargetGroupMetrics', 1);
    t.hasResourceProperties('Custom::InvisiblePipelineTargetGroupMetrics', { TargetGroups: ['web-tg', 'api-tg'] });
    const roles = Object.entries(t.findResources('AWS::IAM::Role')).filter(([id]) => id.startsWith('InvisiblePipelineTargetGroupMetricsCustomResourceProviderRole'));
    expect(roles).toHaveLength(1);
    const statements = roles[0][1].Properties.Policies.flatMap((pol: { PolicyDocument: { Statement: Statement[] } }) => pol.PolicyDocument.Statement);
    expect(statements).toEqual([{ Sid: 'DescribeTargetGroups', Effect: 'Allow', Action: 'elasticloadbalancing:DescribeTargetGroups', Resource: '*' }]);
    p.app.synth();
    expect(nagFindings(p.outdir)).toEqual([]);
  });
});

describe('the target group lookup\'s handler, against a double of the Elastic Load Balancing API', () => {
  beforeEach(() => {
    vi.spyOn(console, 'log').mockImplementation(() => {});
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });
  const group = (name: string, balancers: string[]) => ({
    TargetGroupName: name,
    TargetGroupArn: `arn:aws:elasticloadbalancing:ap-southeast-1:123456789012:targetgroup/${name}/50dc6c495c0c9188`,
    LoadBalancerArns: balancers,
  });
  const api = (answer: () => unknown) => {
    const calls: unknown[] = [];
    return {
      calls,
      api: {
        describe: async (input: unknown) => {
          calls.push(input);
          return answer();
        },
      } as unknown as Lookup.ElasticLoadBalancingApi,
    };
  };
  const alb = 'arn:aws:elasticloadbalancing:ap-southeast-1:123456789012:loadbalancer/app/web-alb/0123456789abcdef';
  const nlb = 'arn:aws:elasticloadbalancing:ap-southeast-1:123456789012:loadbalancer/net/api-nlb/fedcba9876543210';

  test('Create: the dimensions as CloudWatch publishes them, and the namespace of the load balancer\'s type', async () => {
    const { calls, api: a } = api(() => ({ TargetGroups: [group('api-tg', [nlb]), group('web-tg', [alb])] }));
    const out = await lookupHandler.onEvent({ RequestType: 'Create', ResourceProperties: { TargetGroups: ['web-tg', 'api-tg'] } }, a);
    expect(calls).toEqual([{ Names: ['web-tg', 'api-tg'] }]);
    expect(out.Data).toEqual({
      'web-tg.TargetGroup': 'targetgroup/web-tg/50dc6c495c0c9188',
      'web-tg.LoadBalancer': 'app/web-alb/0123456789abcdef',
      'web-tg.Namespace': 'AWS/ApplicationELB',
      'api-tg.TargetGroup': 'targetgroup/api-tg/50dc6c495c0c9188',
      'api-tg.LoadBalancer': 'net/api-nlb/fedcba9876543210',
      'api-tg.Namespace': 'AWS/NetworkELB',
    });
  });

  test('a target group no load balancer uses, or one not found, fails the stack operation saying why', async () => {
    const unused = api(() => ({ TargetGroups: [group('web-tg', [])] }));
    await expect(lookupHandler.onEvent({ RequestType: 'Update', ResourceProperties: { TargetGroups: ['web-tg'] } }, unused.api)).rejects.toThrow(
      /target group web-tg is used by no load balancer: .*dimensions TargetGroup and LoadBalancer/,
    );
    const missing = api(() => {
      throw Object.assign(new Error('One or more target groups not found'), { name: 'TargetGroupNotFoundException' });
    });
    await expect(lookupHandler.onEvent({ RequestType: 'Create', ResourceProperties: { TargetGroups: ['gone-tg'] } }, missing.api)).rejects.toThrow(
      'target_groups: One or more target groups not found (looked up by name in this region: gone-tg)',
    );
  });

  test('Delete does nothing: nothing was created', async () => {
    const { calls, api: a } = api(() => ({}));
    await expect(lookupHandler.onEvent({ RequestType: 'Delete', PhysicalResourceId: 'target-group-metrics:web-tg' }, a)).resolves.toEqual({
      PhysicalResourceId: 'target-group-metrics:web-tg',
    });
    expect(calls).toEqual([]);
  });
});

describe('IAM: cloudwatch:DescribeAlarms for the projects that report a stop on an alarm', () => {
  const alarmsOfRegion = ':cloudwatch:ap-southeast-1:123456789012:alarm:*';

  test('deploy, rollback and promote may DescribeAlarms on the alarms of the pipeline\'s account and region; validate may not', () => {
    const { t } = stack({ prod_deployment_group_name: 'prod', prod_ec2_tag_value: 'web-prod' });
    for (const command of [undefined, 'rollback', 'promote']) {
      const read = projectStatements(t, command).filter((s) => [s.Action].flat().includes('cloudwatch:DescribeAlarms'));
      expect(read, String(command)).toHaveLength(1);
      expect(flatten(read[0].Resource), String(command)).toBe(`arn:<AWS::Partition>${alarmsOfRegion}`);
    }
    expect(JSON.stringify(projectStatements(t, 'validate'))).not.toContain('cloudwatch:');
  });

  test('--ignore-alarms: rollback and promote may UpdateDeploymentGroup (CreateDeployment\'s overrideAlarmConfiguration) on the groups they deploy to; deploy may not', () => {
    const { t } = stack({ prod_deployment_group_name: 'prod', prod_ec2_tag_value: 'web-prod', branches: { develop: 'web-dev' } });
    const updates = (command?: string) =>
      projectStatements(t, command)
        .filter((s) => [s.Action].flat().includes('codedeploy:UpdateDeploymentGroup'))
        .flatMap((s) => [s.Resource].flat().map(flatten))
        .map((r) => r.replace(/^.*:deploymentgroup:<TargetApplicationA25C4C66>\//, ''))
        .sort();
    expect(updates()).toEqual([]);
    expect(updates('rollback')).toEqual(['<TargetGroup4E18EF33>', '<TargetProdGroup8BAF0A64>', 'web-dev']);
    expect(updates('promote')).toEqual(['<TargetProdGroup8BAF0A64>']);
  });

  test('a build in another region: the alarms of the pipeline region', () => {
    const p = build({ pipeline_region: 'ca-west-1', build_region: 'ca-central-1', source_region: '', alarms: ['web-p99-latency'] });
    const t = Template.fromStack(p.build!);
    const read = projectStatements(t).filter((s) => [s.Action].flat().includes('cloudwatch:DescribeAlarms'));
    expect(flatten(read[0].Resource)).toBe('arn:<AWS::Partition>:cloudwatch:ca-west-1:123456789012:alarm:*');
  });
});

describe('branches: branch environments', () => {
  const mapping = {
    branches: {
      develop: 'web-dev',
      'release/*': { deployment_group_name: 'web-staging', ec2_tag_value: 'staging' },
      'release/hotfix/*': { deployment_group_name: 'web-hotfix', auto_scaling_groups: ['hotfix-asg'] },
      'feature/x': 'cbdeploygroup',
    },
  };

  test('each mapped group is created once, in place, with the first group\'s application, service role, configuration and rollback; the first group is not created twice', () => {
    const { t } = stack({ ...mapping, alarms: ['web-p99-latency'] });
    const all = groups(t);
    expect(Object.keys(all).sort()).toEqual(['cbdeploygroup', 'web-dev', 'web-hotfix', 'web-staging']);
    const first = all.cbdeploygroup;
    for (const name of ['web-dev', 'web-staging', 'web-hotfix']) {
      const g = all[name];
      expect(g.ApplicationName, name).toEqual(first.ApplicationName);
      expect(g.ServiceRoleArn, name).toEqual(first.ServiceRoleArn);
      expect(g.DeploymentConfigName, name).toEqual(first.DeploymentConfigName);
      expect(g.AlarmConfiguration, name).toEqual(first.AlarmConfiguration);
      expect(g.AutoRollbackConfiguration, name).toEqual({ Enabled: true, Events: ['DEPLOYMENT_FAILURE', 'DEPLOYMENT_STOP_ON_ALARM'] });
      expect(g.LoadBalancerInfo, name).toBeUndefined();
    }
    const tag = (value: string) => ({ Ec2TagSetList: [{ Ec2TagGroup: [{ Key: 'invisible-pipeline', Value: value, Type: 'KEY_AND_VALUE' }] }] });
    expect(all['web-dev'].Ec2TagSet).toEqual(tag('web-dev'));
    expect(all['web-staging'].Ec2TagSet).toEqual(tag('staging'));
    expect(all['web-hotfix']).toMatchObject({ AutoScalingGroups: ['hotfix-asg'], OutdatedInstancesStrategy: 'UPDATE', TerminationHookEnabled: true });
    expect(all['web-hotfix'].Ec2TagSet).toBeUndefined();
    // One service role for all of them.
    t.resourceCountIs('AWS::IAM::Role', Object.keys(Template.fromStack(build().pipeline).findResources('AWS::IAM::Role')).length);
    // The agent reaches their instances too.
    const targets = Object.values(t.findResources('AWS::SSM::Association', { Properties: { Name: 'AWS-ConfigureAWSPackage' } })).map((a) => a.Properties.Targets);
    expect(targets).toEqual([[{ Key: 'tag:invisible-pipeline', Values: ['web', 'web-dev', 'staging'] }], [{ Key: 'tag:aws:autoscaling:groupName', Values: ['hotfix-asg'] }]]);
  });

  test('BRANCH_GROUPS on the deploy project: the deployment branch and the first group first, then the patterns as given; nothing without branches', () => {
    const { t } = stack(mapping);
    expect(env(t).BRANCH_GROUPS).toBe('main=cbdeploygroup;develop=web-dev;release/*=web-staging;release/hotfix/*=web-hotfix;feature/x=cbdeploygroup');
    for (const command of ['validate', 'rollback']) expect(env(t, command).BRANCH_GROUPS).toBeUndefined();
    expect(env(stack({}).t).BRANCH_GROUPS).toBeUndefined();
    // The deployment branch mapped by name: the user's group, not the first one added.
    expect(env(stack({ branches: { main: 'web-dev' } }).t).BRANCH_GROUPS).toBe('main=web-dev');
  });

  test('the rules: mapped branches start the deploy project, every other branch the validate project; PIPELINE_BRANCH is the pushed branch', () => {
    const { t } = stack(mapping);
    const deploy = rule(t, /^Deploy pushes to/);
    const other = rule(t, /^Validate pushes/);
    expect(deploy.Properties.EventPattern.detail.referenceName).toEqual(['main', 'develop', 'feature/x', { prefix: 'release/' }, { prefix: 'release/hotfix/' }]);
    expect(other.Properties.EventPattern.detail.referenceName).toEqual([{ 'anything-but': ['main', 'develop', 'feature/x'] }]);
    expect(other.Properties.EventPattern.detail.referenceFullName).toEqual([{ 'anything-but': { prefix: ['refs/heads/release/', 'refs/heads/release/hotfix/'] } }]);
    const branchGroups = env(t).BRANCH_GROUPS as string;
    const expected: Record<string, string | undefined> = {
      main: 'cbdeploygroup',
      develop: 'web-dev',
      'develop-old': undefined,
      'release/1.0': 'web-staging',
      'release/hotfix/2': 'web-hotfix',
      release: undefined,
      'releases/x': undefined,
      'feature/x': 'cbdeploygroup',
      'feature/y': undefined,
      'refs/heads/main': undefined,
    };
    for (const [branch, group] of Object.entries(expected)) {
      const event = push(branch);
      const deploys = matches(patternOf(deploy), event);
      const validates = matches(patternOf(other), event);
      // Exactly one rule per push; the deploy rule's branches are exactly those with a group.
      expect([branch, deploys, validates]).toEqual([branch, group !== undefined, group === undefined]);
      expect(groupFor(branchGroups, branch), branch).toBe(group);
      const input = startInput(deploys ? deploy : other, event);
      expect(input.sourceVersion).toBe('c0ffee');
      expect(input.environmentVariablesOverride).toContainEqual({ name: 'PIPELINE_BRANCH', value: branch, type: 'PLAINTEXT' });
    }
    // A release change deploys the deployment branch.
    const release = Object.values(t.findResources('AWS::Events::Rule', { Properties: { EventPattern: { source: ['aws.ssm'] } } }))[0] as Resource;
    expect(startInput(release, { time: '2026-12-01T10:00:00Z' }).environmentVariablesOverride).toContainEqual({ name: 'PIPELINE_BRANCH', value: 'main', type: 'PLAINTEXT' });
  });

  test('one prefix: the EventBridge guide\'s single-value form; exact names only: no referenceFullName', () => {
    const one = rule(stack({ branches: { 'release/*': 'web-staging' } }).t, /^Validate pushes/);
    expect(one.Properties.EventPattern.detail.referenceFullName).toEqual([{ 'anything-but': { prefix: 'refs/heads/release/' } }]);
    const exact = rule(stack({ branches: { develop: 'web-dev' } }).t, /^Validate pushes/);
    expect(exact.Properties.EventPattern.detail.referenceFullName).toBeUndefined();
    expect(exact.Properties.EventPattern.detail.referenceName).toEqual([{ 'anything-but': ['main', 'develop'] }]);
  });

  test('the repository in another region: the commit in INVISIBLE_PIPELINE_SOURCE_VERSION, the branch in PIPELINE_BRANCH', () => {
    const p = build({ pipeline_region: 'ap-southeast-7', source_region: 'ap-southeast-1', ...mapping });
    const t = Template.fromStack(p.pipeline);
    const deploy = rule(t, /^Deploy pushes to/);
    const input = startInput(deploy, push('release/2.0'));
    expect(input.sourceVersion).toBeUndefined();
    expect(input.environmentVariablesOverride).toEqual([
      { name: 'PIPELINE_TRIGGER_TIME', value: '2026-12-01T10:00:00Z', type: 'PLAINTEXT' },
      { name: 'PIPELINE_BRANCH', value: 'release/2.0', type: 'PLAINTEXT' },
      { name: 'INVISIBLE_PIPELINE_SOURCE_VERSION', value: 'c0ffee', type: 'PLAINTEXT' },
    ]);
  });

  test('GitHub: the deploy project\'s filter group takes the mapped branches (HEAD_REF), the validate project\'s excludes them', () => {
    const { t } = stack({ source_provider: 'github', github_repository: 'acme/site', github_token_secret: 'github/pat', path_filter: true, branches: { 'release/*': 'web-staging', 'v1.0': 'web-legacy' } });
    const projects = Object.fromEntries(Object.values(t.findResources('AWS::CodeBuild::Project')).map((r) => [r.Properties.Name, r.Properties]));
    const ref = '^refs/heads/(main|release/.*|v1\\.0)$';
    expect(projects.CodeBuildProject.Triggers.FilterGroups).toEqual([
      [{ Type: 'EVENT', Pattern: 'PUSH' }, { Type: 'HEAD_REF', Pattern: ref }, { Type: 'FILE_PATH', Pattern: '^CodeDeploy_Files/' }],
    ]);
    expect(projects['CodeBuildProject-validate'].Triggers.FilterGroups).toEqual([
      [{ Type: 'EVENT', Pattern: 'PUSH' }, { Type: 'HEAD_REF', Pattern: ref, ExcludeMatchedPattern: true }, { Type: 'FILE_PATH', Pattern: '^CodeDeploy_Files/' }],
    ]);
    const re = new RegExp(ref);
    expect(['refs/heads/main', 'refs/heads/release/1', 'refs/heads/v1.0'].every((r) => re.test(r))).toBe(true);
    expect(['refs/heads/main-old', 'refs/heads/v1x0', 'refs/heads/releases', 'refs/heads/x/release/1'].some((r) => re.test(r))).toBe(false);
    // Webhook builds carry no PIPELINE_BRANCH: the binary reads CODEBUILD_WEBHOOK_HEAD_REF; a
    // release change still tells it the deployment branch.
    expect(env(t).BRANCH_GROUPS).toBe('main=cbdeploygroup;release/*=web-staging;v1.0=web-legacy');
    const release = Object.values(t.findResources('AWS::Events::Rule', { Properties: { EventPattern: { source: ['aws.ssm'] } } }))[0] as Resource;
    expect(startInput(release, { time: 't' }).environmentVariablesOverride).toContainEqual({ name: 'PIPELINE_BRANCH', value: 'main', type: 'PLAINTEXT' });
  });

  test('IAM: the deploy and rollback roles may deploy to every mapped group, by its ARN; the validate role to none', () => {
    const { t } = stack(mapping);
    const deployTo = (command?: string) =>
      projectStatements(t, command)
        .filter((s) => [s.Action].flat().includes('codedeploy:CreateDeployment'))
        .flatMap((s) => [s.Resource].flat().map(flatten));
    const arn = (name: string) => `arn:<AWS::Partition>:codedeploy:ap-southeast-1:123456789012:deploymentgroup:<TargetApplicationA25C4C66>/${name}`;
    const all = [arn('<TargetGroup4E18EF33>'), arn('web-dev'), arn('web-staging'), arn('web-hotfix')].sort();
    expect(deployTo().sort()).toEqual(all);
    expect(deployTo('rollback').sort()).toEqual(all);
    expect(JSON.stringify(projectStatements(t, 'validate'))).not.toContain('codedeploy:');
  });

  test('a build in another region names the mapped groups it may deploy to by name', () => {
    const p = build({ pipeline_region: 'ca-west-1', build_region: 'ca-central-1', source_region: '', branches: { develop: 'web-dev' } });
    const resources = projectStatements(Template.fromStack(p.build!))
      .filter((s) => [s.Action].flat().includes('codedeploy:CreateDeployment'))
      .flatMap((s) => [s.Resource].flat().map(flatten));
    expect(resources).toEqual([
      'arn:<AWS::Partition>:codedeploy:ca-west-1:123456789012:deploymentgroup:cbdeployapplication/cbdeploygroup',
      'arn:<AWS::Partition>:codedeploy:ca-west-1:123456789012:deploymentgroup:cbdeployapplication/web-dev',
    ]);
    expect(groups(Template.fromStack(p.pipeline))['web-dev']).toBeDefined();
  });

  test('cdk-nag clean with branches, alarms, default alarms, a second group and windows', () => {
    const p = build({
      ...mapping,
      target_groups: ['web-tg'],
      alarms: ['web-p99-latency'],
      create_default_alarms: true,
      prod_deployment_group_name: 'prod',
      prod_ec2_tag_value: 'web-prod',
      deploy_windows: ['Mon-Fri 09:00-16:00 Europe/Berlin'],
    });
    p.app.synth();
    expect(nagFindings(p.outdir)).toEqual([]);
  });
});

describe('branches that cannot be, refused naming the key', () => {
  test.each([
    [{ branches: { main: 'prod' }, prod_deployment_group_name: 'prod', prod_ec2_tag_value: 'web-prod' }, '"branches.main" is the promotion target "prod" (prod_deployment_group_name): production is never deployed by a push'],
    [{ branches: { 'release/*': { deployment_group_name: 'prod' } }, prod_deployment_group_name: 'prod', prod_ec2_tag_value: 'web-prod' }, 'is the promotion target "prod"'],
    [{ branches: { 'feature/*/x': 'web-dev' } }, '"branches" has the pattern "feature/*/x": a pattern is an exact branch name or a prefix ending in one "*"'],
    [{ branches: { 'feature/?': 'web-dev' } }, 'no other wildcard'],
    [{ branches: { 'release/**': 'web-dev' } }, 'no other wildcard'],
    [{ branches: { '*': 'web-dev' } }, 'a prefix needs at least one character before its "*"'],
    [{ branches: { 'a=b': 'web-dev' } }, '";" and "=" separate the entries of the build\'s BRANCH_GROUPS'],
    [{ branches: { 'has space': 'web-dev' } }, 'expected a git branch name'],
    [{ branches: { develop: 'web dev' } }, '"branches.develop" is "web dev": expected a CodeDeploy deployment group name'],
    [{ branches: { develop: ['web-dev'] } }, '"branches.develop" is ["web-dev"]'],
    [{ branches: { develop: { deployment_group_name: 'web-dev', ec2_tag_key: 'Env' } } }, '"branches.develop" has "ec2_tag_key": expected deployment_group_name, ec2_tag_value, ec2_tag_set, auto_scaling_groups'],
    [{ branches: { develop: { ec2_tag_value: 'dev' } } }, '"branches.develop" has "deployment_group_name" undefined'],
    [{ branches: { develop: { deployment_group_name: 'web-dev', ec2_tag_value: 'dev', ec2_tag_set: [['Env=dev']] } } }, 'has both "ec2_tag_value" and "ec2_tag_set"'],
    [{ branches: { develop: { deployment_group_name: 'cbdeploygroup', ec2_tag_value: 'dev' } } }, '"branches.develop" names the first group "cbdeploygroup" (deploymentGroupName) with instances of its own'],
    [{ branches: { develop: 'web-dev', 'dev/*': { deployment_group_name: 'web-dev', ec2_tag_value: 'other' } } }, 'maps "develop" and "dev/*" to the group "web-dev" with different instances'],
    [{ ...noTag, auto_scaling_groups: ['web-asg'], branches: { develop: 'web-dev' } }, '"branches.develop" names the group "web-dev" alone, but "ec2_tag_key" is not set, whose tag would choose its instances'],
    [{ branches: { develop: { deployment_group_name: 'web-dev', ec2_tag_value: 7 } } }, '"branches.develop" has "ec2_tag_value" 7: expected an EC2 tag value'],
    [{ branches: [] }, '"branches" is []: expected an object of branch patterns and deployment groups'],
    [{ branches: {} }, '"branches" is {}'],
    [{ branches: '{"develop": ' }, '"branches" is "{\\"develop\\": ": not valid JSON'],
    [{ branches: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`b${i}`, `g${i}`])) }, '"branches" has 21 patterns: at most 20'],
  ])('%o', (overrides, message) => {
    expect(() => build(overrides)).toThrow(ConfigError);
    expect(() => build(overrides)).toThrow(message);
  });

  test('the command line\'s form: a JSON object in a string', () => {
    expect(env(stack({ branches: '{"develop": "web-dev"}' }).t).BRANCH_GROUPS).toBe('main=cbdeploygroup;develop=web-dev');
  });

  test('the first group by name needs no tag of its own; mapping the deployment branch elsewhere is said in a note', () => {
    const { t } = stack({ ...noTag, auto_scaling_groups: ['web-asg'], branches: { 'feature/*': 'cbdeploygroup', develop: { deployment_group_name: 'web-dev', auto_scaling_groups: ['dev-asg'] } } });
    expect(Object.keys(groups(t)).sort()).toEqual(['cbdeploygroup', 'web-dev']);
    const { p } = stack({ branches: { main: 'web-dev' } });
    const infos = Annotations.fromStack(p.pipeline).findInfo('*', Match.anyValue()).map((m) => String(m.entry.data));
    expect(infos.some((m) => m.includes('"branches.main" maps the deployment branch to "web-dev": its pushes and release changes deploy there, not to the first group "cbdeploygroup"'))).toBe(true);
  });

  test('the same group for several patterns is created once', () => {
    const { t } = stack({ branches: { develop: 'web-dev', 'dev/*': 'web-dev' } });
    expect(Object.keys(groups(t)).sort()).toEqual(['cbdeploygroup', 'web-dev']);
  });
});

const policySentry = spawnSync('python3', ['-c', 'import importlib.util, sys; sys.exit(importlib.util.find_spec("policy_sentry") is None)']).status === 0;

test.skipIf(!policySentry)('IAM check (test/iam_check.py): every project against calls.json with alarms and branches; the lookup role\'s statements on resources of their types', () => {
  const p = build({ target_groups: ['web-tg'], alarms: ['web-p99-latency'], create_default_alarms: true, branches: { develop: 'web-dev', 'release/*': 'web-staging' }, prod_deployment_group_name: 'prod', prod_ec2_tag_value: 'web-prod' });
  p.app.synth();
  const template = join(p.outdir, 'InvisiblePipeline.template.json');
  const check = (...args: string[]) => spawnSync('python3', [join(infraDir, 'test', 'iam_check.py'), template, ...args], { encoding: 'utf8' });
  const calls = check(join(repoRoot, 'src', 'aws', 'calls.json'));
  expect(calls.status, calls.stderr).toBe(0);
  const roles = check('--roles', 'InvisiblePipelineTargetGroupMetricsCustomResourceProviderRole');
  expect(roles.status, roles.stderr).toBe(0);
  // Live: DescribeAlarms taken from the deploy role is caught.
  const broken = JSON.parse(readFileSync(template, 'utf8'));
  for (const r of Object.values(broken.Resources) as Resource[]) {
    if (r.Type !== 'AWS::IAM::Policy') continue;
    r.Properties.PolicyDocument.Statement = r.Properties.PolicyDocument.Statement.filter((s: Statement) => s.Sid !== 'ReadAlarms');
  }
  writeFileSync(template, JSON.stringify(broken));
  const caught = check(join(repoRoot, 'src', 'aws', 'calls.json'));
  expect(caught.status).toBe(1);
  expect(caught.stderr).toContain('cloudwatch:DescribeAlarms is not allowed at all');
});

describe('the commit in every message: the binary publishes each run\'s outcome (NOTIFY_TOPIC_ARN)', () => {
  const prod = { prod_deployment_group_name: 'prod', prod_ec2_tag_value: 'web-prod' };
  const commands = [undefined, 'rollback', 'promote'];
  const calgary = { pipeline_region: 'ca-west-1', build_region: 'ca-central-1', source_region: '' };

  /** The pipeline's notification topic and its key, by logical id. */
  function topicOf(t: Template): { topicId: string; keyId: string } {
    const [[topicId, topic]] = Object.entries(t.findResources('AWS::SNS::Topic'));
    return { topicId, keyId: topic.Properties.KmsMasterKeyId['Fn::GetAtt'][0] };
  }

  /** The statements of the role of the project running `command` that name `action`. */
  function granting(t: Template, command: string | undefined, action: string): Statement[] {
    return projectStatements(t, command).filter((s) => [s.Action].flat().includes(action));
  }

  test('the deploy, rollback and promotion projects are given the pipeline\'s topic; the validate project is not', () => {
    const { t } = stack(prod);
    const { topicId } = topicOf(t);
    for (const command of commands) expect(env(t, command).NOTIFY_TOPIC_ARN, String(command)).toEqual({ Ref: topicId });
    expect(env(t, 'validate').NOTIFY_TOPIC_ARN).toBeUndefined();
    // Without a second group, no promotion project: the two others.
    const single = stack({}).t;
    expect(Object.keys(single.findResources('AWS::CodeBuild::Project'))).toHaveLength(3);
    for (const command of [undefined, 'rollback']) expect(env(single, command).NOTIFY_TOPIC_ARN).toEqual({ Ref: topicOf(single).topicId });
  });

  test('IAM: sns:Publish on that topic only, kms:GenerateDataKey and kms:Decrypt on its key; nothing for the validate project', () => {
    const { t } = stack(prod);
    const { topicId, keyId } = topicOf(t);
    for (const command of commands) {
      const publish = granting(t, command, 'sns:Publish');
      expect(publish, String(command)).toEqual([{ Sid: 'NotifyOutcome', Effect: 'Allow', Action: 'sns:Publish', Resource: { Ref: topicId } }]);
      // The topic's key: the two actions the binary's Publish needs (calls.json), on that key only.
      const onKey = projectStatements(t, command).filter((s) => JSON.stringify(s.Resource).includes(`"${keyId}"`));
      expect(onKey, String(command)).toEqual([
        { Sid: 'NotifyTopicKey', Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: { 'Fn::GetAtt': [keyId, 'Arn'] } },
      ]);
    }
    const validate = JSON.stringify(projectStatements(t, 'validate'));
    expect(validate).not.toContain('sns:');
    expect(validate).not.toContain(keyId);
    // No one else of the stack may publish to it or use its key through an IAM policy.
    const everyPolicy = Object.values(t.findResources('AWS::IAM::Policy')).flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
    expect(everyPolicy.filter((s) => JSON.stringify(s).includes(`"${topicId}"`))).toHaveLength(3);
    expect(everyPolicy.filter((s) => JSON.stringify(s).includes(`"${keyId}"`))).toHaveLength(3);
  });

  test('the key policy lets the account\'s IAM policies allow the key (how a role of any stack or region may use it), and names no build role', () => {
    const { t } = stack(prod);
    const { keyId } = topicOf(t);
    const statementsOfKey = t.toJSON().Resources[keyId].Properties.KeyPolicy.Statement as { Principal: Record<string, unknown>; Action: unknown; Resource: unknown }[];
    expect(statementsOfKey[0]).toMatchObject({ Effect: 'Allow', Action: 'kms:*', Resource: '*' });
    expect(flatten(statementsOfKey[0].Principal.AWS)).toBe('arn:<AWS::Partition>:iam::123456789012:root');
    // Only services besides the account: CloudWatch's alarms and EventBridge's rules.
    expect(statementsOfKey.slice(1).map((s) => s.Principal).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual([
      { Service: 'cloudwatch.amazonaws.com' },
      { Service: 'events.amazonaws.com' },
    ]);
    // In one region the topic keeps the name CloudFormation gives it (a fixed one would replace it).
    expect(t.toJSON().Resources[topicOf(t).topicId].Properties.TopicName).toBeUndefined();
    expect(JSON.stringify(t.findResources('AWS::KMS::Alias'))).not.toContain('/notifications');
  });

  test('a build in another region publishes to the pipeline region\'s topic by its fixed name, and uses its key by its alias: no cross-region reference', () => {
    const p = build({ ...calgary, ...prod });
    const deploy = Template.fromStack(p.pipeline);
    const built = Template.fromStack(p.build!);
    const { topicId: pipelineTopic, keyId } = topicOf(deploy);
    const topicName: string = deploy.toJSON().Resources[pipelineTopic].Properties.TopicName;
    expect(topicName).toMatch(/^invisible-pipeline-cbdeployapplication-[0-9a-f]{8}$/);
    const alias = `alias/invisible-pipeline/${topicName.replace(/^invisible-pipeline-/, '')}/notifications`;
    deploy.hasResourceProperties('AWS::KMS::Alias', { AliasName: alias, TargetKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    const topicArn = `arn:<AWS::Partition>:sns:ca-west-1:123456789012:${topicName}`;
    for (const command of commands) {
      expect(flatten(env(built, command).NOTIFY_TOPIC_ARN), String(command)).toBe(topicArn);
      const publish = granting(built, command, 'sns:Publish');
      expect(publish.map((s) => flatten(s.Resource)), String(command)).toEqual([topicArn]);
      const key = projectStatements(built, command).filter((s) => s.Sid === 'NotifyTopicKey');
      expect(key, String(command)).toHaveLength(1);
      expect(key[0].Action).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
      expect(flatten(key[0].Resource)).toBe('arn:<AWS::Partition>:kms:ca-west-1:123456789012:key/*');
      expect((key[0] as Statement & { Condition: unknown }).Condition).toEqual({ 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': [alias] } });
    }
    expect(env(built, 'validate').NOTIFY_TOPIC_ARN).toBeUndefined();
    const text = JSON.stringify(built.toJSON());
    expect(text).not.toContain('Fn::ImportValue');
    expect(text).not.toContain(':sns:ca-central-1:');
    // The build region keeps its own topic for its own events (failed builds, manual ends, lost triggers).
    built.resourceCountIs('AWS::SNS::Topic', 1);
    expect(built.toJSON().Resources[topicOf(built).topicId].Properties.TopicName).toBeUndefined();
    p.app.synth();
    expect(nagFindings(p.outdir)).toEqual([]);
  });

  test('the fixed names are valid for SNS and KMS whatever the application\'s name, and two applications never share them', () => {
    for (const name of ['cbdeployapplication', 'shop.web_v2', 'a'.repeat(100)]) {
      const { topicName, keyAlias } = notificationNames(name);
      // SNS: letters, digits, hyphens and underscores, 1 to 256; KMS aliases add "/" (and refuse alias/aws/).
      expect(topicName, name).toMatch(/^[A-Za-z0-9_-]{1,256}$/);
      expect(keyAlias, name).toMatch(/^alias\/(?!aws\/)[A-Za-z0-9/_-]{1,250}$/);
    }
    expect(notificationNames('shop.web').topicName).not.toBe(notificationNames('shop_web').topicName);
    expect(notificationNames('shop.web').keyAlias).not.toBe(notificationNames('shop_web').keyAlias);
  });

  test.skipIf(!policySentry)('IAM check (test/iam_check.py): the build stack of another region grants what SNS Publish needs (calls.json); a missing Publish grant is caught', () => {
    const p = build({ ...calgary, ...prod });
    p.app.synth();
    const template = join(p.outdir, 'InvisiblePipelineBuild.template.json');
    const check = () => spawnSync('python3', [join(infraDir, 'test', 'iam_check.py'), template, join(repoRoot, 'src', 'aws', 'calls.json')], { encoding: 'utf8' });
    // The SNS Publish operation's actions (the whole of calls.json is checked by the test above
    // and by scripts/test-infra).
    const clean = check();
    expect(clean.stderr).toContain('(deploy)');
    expect(clean.stderr.split('\n').filter((line) => /^iam: .*(sns:|kms:)/.test(line)), clean.stderr).toEqual([]);
    const broken = JSON.parse(readFileSync(template, 'utf8'));
    for (const r of Object.values(broken.Resources) as Resource[]) {
      if (r.Type !== 'AWS::IAM::Policy') continue;
      r.Properties.PolicyDocument.Statement = r.Properties.PolicyDocument.Statement.filter((s: Statement) => s.Sid !== 'NotifyOutcome');
    }
    writeFileSync(template, JSON.stringify(broken));
    const caught = check();
    expect(caught.status).toBe(1);
    expect(caught.stderr).toContain('sns:Publish is not allowed at all');
  });
});
