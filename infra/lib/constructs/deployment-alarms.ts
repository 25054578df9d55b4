/**
 * The CloudWatch alarms that stop a deployment and roll it back: the ones `alarms` names (of the
 * pipeline region, the stack's or not) and, with `create_default_alarms`, a pair the stack makes for
 * the fleet, each notifying the notification topic. Every deployment group of the stack gets all of
 * them in its alarm configuration (lib/constructs/deployment-target.ts); CodeDeploy stops a
 * deployment while one is in ALARM ("AlarmConfiguration", https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_AlarmConfiguration.html)
 * and, with the rollback event DEPLOYMENT_STOP_ON_ALARM, redeploys the last good revision
 * ("AutoRollbackConfiguration", https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_AutoRollbackConfiguration.html).
 *
 * The default alarms, two per target group and per Classic Load Balancer and one per Auto Scaling
 * group (config.ts's `defaultAlarms` names and counts them):
 * - unhealthy hosts: UnHealthyHostCount above 0 for two minutes in a row. A deployment that breaks
 *   the application makes its instances fail the load balancer's health check; CodeDeploy's own
 *   AllowTraffic step notices only the instance it is deploying, the alarm notices the others too,
 *   and a flapping check of one minute does not stop a deployment;
 * - targets answering 5xx: more than 5 % of the requests answered with a 5xx by the targets, and at
 *   least 5 such answers, in each of two minutes in a row: a share, so that busy and quiet services
 *   get the same threshold, and a floor, so that one error among three requests does not stop a
 *   deployment. A Network Load Balancer's targets answer no HTTP: that alarm stays OK there;
 * - an Auto Scaling group's instances failing their EC2 status checks (StatusCheckFailed of the
 *   group, https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/GetMetricAutoScalingGroup.html)
 *   in two of three minutes: a revision that leaves an instance unreachable. The group's
 *   GroupInServiceInstances against its minimum would say more, but needs the group's metrics
 *   collection, which the stack does not own and cannot turn on.
 * No data is not breaching: a load balancer without requests publishes no target metrics.
 *
 * A target group's metrics carry the dimensions TargetGroup and LoadBalancer, both ARN suffixes
 * (`targetgroup/NAME/ID`, `app/NAME/ID`), and are never published with TargetGroup alone ("CloudWatch
 * metrics for your Application Load Balancer", metric dimensions,
 * https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html);
 * `target_groups` gives names. A custom resource looks them up when the stack is deployed
 * (DescribeTargetGroups: the ARN, its load balancer, and from the load balancer's type the namespace,
 * AWS/ApplicationELB or AWS/NetworkELB), so nothing else needs configuring and nothing is looked up
 * at synth (which runs offline). A Classic Load Balancer's metrics need its name only.
 */
import { CustomResource, CustomResourceProvider, CustomResourceProviderRuntime, Duration, Stack, Validations, type CfnResource } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DefaultAlarm, PipelineConfig } from '../config.js';
import { acknowledgeWildcards, skipCheckov } from '../shared/nag.js';

/** The lookup handler's folder: CommonJS for the Lambda runtime, with its own package.json. */
export const LOOKUP_HANDLER_DIR = join(dirname(fileURLToPath(import.meta.url)), 'target-group-metrics');
/** The custom resource type of the lookup, and the id of the stack's one provider of it. */
export const LOOKUP_RESOURCE_TYPE = 'Custom::InvisiblePipelineTargetGroupMetrics';
const LOOKUP_PROVIDER_ID = 'InvisiblePipelineTargetGroupMetrics';

/** Each default alarm's threshold, as the README states them. */
const ONE_MINUTE = Duration.minutes(1);
/** The 5xx alarm: more than this share of the requests (percent)... */
const TARGET_5XX_PERCENT = 5;
/** ...with at least this many 5xx answers in the minute. */
const TARGET_5XX_FLOOR = 5;

export interface DeploymentAlarmsProps {
  readonly config: PipelineConfig;
}

/** Where a load balancer's metrics are and what they are called. */
interface Source {
  readonly namespace: string;
  readonly dimensions: Record<string, string>;
  readonly unhealthy: string;
  readonly errors: string;
}

export class DeploymentAlarms extends Construct {
  /** Every alarm of the groups' alarm configuration: those of `alarms` (by name), then the
   * default ones. */
  readonly alarms: cloudwatch.IAlarm[];
  /** The alarms the stack made (create_default_alarms). */
  readonly made: cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: DeploymentAlarmsProps) {
    super(scope, id);
    const { config } = props;
    const named = config.alarms.names.map((name, i) => cloudwatch.Alarm.fromAlarmName(this, `Named${i}`, name));
    const targetGroups = [...new Set(config.alarms.defaults.filter((d) => d.source.type === 'target-group').map((d) => d.source.name))];
    const lookup = targetGroups.length > 0 ? lookupTargetGroups(this, targetGroups) : undefined;
    this.made = config.alarms.defaults.map((d, i) => defaultAlarm(this, `Default${i}`, d, lookup));
    this.alarms = [...named, ...this.made];
  }

  /** Each alarm the stack made notifies `topic` when it goes into ALARM. */
  notify(topic: sns.ITopic): void {
    for (const alarm of this.made) alarm.addAlarmAction(new actions.SnsAction(topic));
  }
}

/** The custom resource that looks the target groups up by name (target-group-metrics/index.js). */
function lookupTargetGroups(scope: Construct, names: string[]): CustomResource {
  const stack = Stack.of(scope);
  const provider = CustomResourceProvider.getOrCreateProvider(stack, LOOKUP_PROVIDER_ID, {
    codeDirectory: LOOKUP_HANDLER_DIR,
    runtime: CustomResourceProviderRuntime.NODEJS_24_X,
    description: 'invisible-pipeline: looks up the CloudWatch dimensions of the target groups its default alarms watch',
  });
  // DescribeTargetGroups has no resource type (Service Authorization Reference, "Actions defined
  // by Elastic Load Balancing V2"): "*" is the only resource it matches. Read-only.
  provider.addToRolePolicy({ Sid: 'DescribeTargetGroups', Effect: 'Allow', Action: 'elasticloadbalancing:DescribeTargetGroups', Resource: '*' });
  acknowledgeLookupProvider(stack);
  return new CustomResource(scope, 'TargetGroupMetrics', {
    serviceToken: provider.serviceToken,
    resourceType: LOOKUP_RESOURCE_TYPE,
    properties: { TargetGroups: names },
  });
}

/** The metrics of what `d` watches. */
function sourceOf(d: DefaultAlarm, lookup: CustomResource | undefined): Source {
  if (d.source.type === 'classic-load-balancer') {
    // AWS/ELB, by LoadBalancerName ("CloudWatch metrics for your Classic Load Balancer",
    // https://docs.aws.amazon.com/elasticloadbalancing/latest/classic/elb-cloudwatch-metrics.html).
    return { namespace: 'AWS/ELB', dimensions: { LoadBalancerName: d.source.name }, unhealthy: 'UnHealthyHostCount', errors: 'HTTPCode_Backend_5XX' };
  }
  if (!lookup) throw new Error(`no lookup of target group ${d.source.name}`);
  const attribute = (name: string) => lookup.getAttString(`${d.source.name}.${name}`);
  return {
    namespace: attribute('Namespace'),
    dimensions: { TargetGroup: attribute('TargetGroup'), LoadBalancer: attribute('LoadBalancer') },
    unhealthy: 'UnHealthyHostCount',
    errors: 'HTTPCode_Target_5XX_Count',
  };
}

/** One default alarm (see the module's comment for each threshold and why). */
function defaultAlarm(scope: Construct, id: string, d: DefaultAlarm, lookup: CustomResource | undefined): cloudwatch.Alarm {
  const common = {
    alarmName: d.name,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  };
  if (d.kind === 'status-check-failed') {
    return new cloudwatch.Alarm(scope, id, {
      ...common,
      alarmDescription: `invisible-pipeline: instances of the Auto Scaling group ${d.source.name} fail their EC2 status checks; stops and rolls back a deployment`,
      metric: new cloudwatch.Metric({
        namespace: 'AWS/EC2',
        metricName: 'StatusCheckFailed',
        dimensionsMap: { AutoScalingGroupName: d.source.name },
        statistic: cloudwatch.Stats.MAXIMUM,
        period: ONE_MINUTE,
      }),
      threshold: 0,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
    });
  }
  const source = sourceOf(d, lookup);
  const metric = (metricName: string, statistic: string) =>
    new cloudwatch.Metric({ namespace: source.namespace, metricName, dimensionsMap: source.dimensions, statistic, period: ONE_MINUTE });
  const what = `${d.source.type === 'target-group' ? 'target group' : 'Classic Load Balancer'} ${d.source.name}`;
  if (d.kind === 'unhealthy-hosts') {
    return new cloudwatch.Alarm(scope, id, {
      ...common,
      alarmDescription: `invisible-pipeline: the ${what} has unhealthy hosts; stops and rolls back a deployment`,
      metric: metric(source.unhealthy, cloudwatch.Stats.MAXIMUM),
      threshold: 0,
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
    });
  }
  return new cloudwatch.Alarm(scope, id, {
    ...common,
    alarmDescription: `invisible-pipeline: more than ${TARGET_5XX_PERCENT} % of the requests to the ${what} answered 5xx by its targets (at least ${TARGET_5XX_FLOOR} in a minute); stops and rolls back a deployment`,
    metric: new cloudwatch.MathExpression({
      // The share of the minute's requests, or 0 below the floor; no requests, no data.
      expression: `IF(FILL(errors, 0) >= ${TARGET_5XX_FLOOR}, 100 * FILL(errors, 0) / requests, 0)`,
      usingMetrics: { errors: metric(source.errors, cloudwatch.Stats.SUM), requests: metric('RequestCount', cloudwatch.Stats.SUM) },
      period: ONE_MINUTE,
      label: `5xx answers of the targets, % of requests`,
    }),
    threshold: TARGET_5XX_PERCENT,
    evaluationPeriods: 2,
    datapointsToAlarm: 2,
  });
}

const acknowledged = new WeakSet<Stack>();

/** cdk-nag, cfn-lint and checkov findings of the stack's one lookup provider, once. */
function acknowledgeLookupProvider(stack: Stack): void {
  const provider = stack.node.tryFindChild(`${LOOKUP_PROVIDER_ID}CustomResourceProvider`);
  if (!provider || acknowledged.has(stack)) return;
  acknowledged.add(stack);
  const role = provider.node.tryFindChild('Role');
  const handler = provider.node.tryFindChild('Handler');
  if (role) {
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason: 'The target group lookup writes its logs with the basic execution role; it runs only when CloudFormation creates or updates the default alarms.',
    });
    acknowledgeWildcards(role, {
      'Resource::*': 'elasticloadbalancing:DescribeTargetGroups has no resource type in the Service Authorization Reference: "*" is the only resource it matches. Read-only.',
    });
  }
  if (handler) {
    // The provider gives its function both a GetAtt of its role and a DependsOn on it; cfn-lint
    // flags the redundant DependsOn (W3005). Harmless, and the CDK's.
    (handler as CfnResource).addMetadata('cfn-lint', { config: { ignore_checks: ['W3005'] } });
    skipCheckov(handler, {
      CKV_AWS_115:
        'Runs once per stack operation, invoked by CloudFormation. A reserved concurrency would take from the account\'s unreserved pool, and fails the deployment in accounts at the minimum of 10.',
      CKV_AWS_116:
        'CloudFormation is the only caller and is told of every failure through the response URL (the stack operation fails with the reason); a dead-letter queue would hold nothing a person acts on.',
      CKV_AWS_117:
        'Calls only the Elastic Load Balancing API (DescribeTargetGroups) and reaches no private resource: in a VPC it would need a NAT gateway or an endpoint, for no gain.',
    });
  }
}
