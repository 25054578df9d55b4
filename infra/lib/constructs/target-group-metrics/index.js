'use strict';
/**
 * invisible-pipeline: the CloudWatch dimensions of target groups, looked up by name when the stack
 * is deployed (lib/constructs/deployment-alarms.ts). Elastic Load Balancing publishes a target
 * group's UnHealthyHostCount, HTTPCode_Target_5XX_Count and RequestCount with the dimensions
 * `TargetGroup, LoadBalancer` (and with AvailabilityZone), never with TargetGroup alone ("CloudWatch
 * metrics for your Application Load Balancer", and the same for Network Load Balancers:
 * https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html).
 * Their values are ARN suffixes (`targetgroup/NAME/ID`, `app/NAME/ID`) that a name does not give,
 * and the namespace depends on the load balancer's type: DescribeTargetGroups gives both.
 *
 * The resource's one property, TargetGroups, is the list of names. Create and Update answer, for
 * each name N, the attributes `N.TargetGroup`, `N.LoadBalancer` and `N.Namespace`; a target group
 * that does not exist, or that no load balancer uses (its metrics would never be published), fails
 * the stack operation with a message saying so. Delete does nothing: nothing was created.
 *
 * Plain CommonJS for the Lambda runtime (its AWS SDK for JavaScript v3); `onEvent` takes the API
 * as an argument, so that the tests run it against a double.
 */

/** The namespace of each load balancer type, by the type's part of its ARN (`loadbalancer/app/…`). */
const NAMESPACES = { app: 'AWS/ApplicationELB', net: 'AWS/NetworkELB' };

/** The Elastic Load Balancing API, with the SDK of the Lambda runtime. */
function sdkApi() {
  const sdk = require('@aws-sdk/client-elastic-load-balancing-v2');
  const client = new sdk.ElasticLoadBalancingV2Client({});
  return { describe: (input) => client.send(new sdk.DescribeTargetGroupsCommand(input)) };
}

function namesOf(properties) {
  const names = properties && properties.TargetGroups;
  if (!Array.isArray(names) || names.length === 0 || names.some((n) => typeof n !== 'string')) {
    throw new Error('the resource has no TargetGroups property (a list of target group names)');
  }
  return names;
}

/** The dimensions and namespace of one target group, as DescribeTargetGroups describes it. */
function dimensionsOf(group) {
  const name = group.TargetGroupName;
  const balancers = group.LoadBalancerArns || [];
  if (balancers.length === 0) {
    throw new Error(
      `target group ${name} is used by no load balancer: Elastic Load Balancing publishes its metrics per load balancer ` +
        '(dimensions TargetGroup and LoadBalancer), so its default alarms would never see data. Register it with a listener, ' +
        'or set create_default_alarms to false',
    );
  }
  // arn:…:targetgroup/NAME/ID and arn:…:loadbalancer/TYPE/NAME/ID: the dimensions are the parts
  // after the resource type's colon.
  const loadBalancer = balancers[0].split(':loadbalancer/')[1];
  const type = loadBalancer ? loadBalancer.split('/')[0] : undefined;
  if (!loadBalancer || !NAMESPACES[type]) {
    throw new Error(`target group ${name} is used by ${balancers[0]}, not an Application or Network Load Balancer: set create_default_alarms to false`);
  }
  if (balancers.length > 1) console.log(`target group ${name} is used by ${balancers.length} load balancers: its alarms watch ${balancers[0]}`);
  return {
    TargetGroup: group.TargetGroupArn.slice(group.TargetGroupArn.lastIndexOf(':') + 1),
    LoadBalancer: loadBalancer,
    Namespace: NAMESPACES[type],
  };
}

async function lookup(names, api) {
  let out;
  try {
    out = await api.describe({ Names: names });
  } catch (e) {
    if (e && e.name === 'TargetGroupNotFoundException') {
      throw new Error(`target_groups: ${e.message || 'a target group was not found'} (looked up by name in this region: ${names.join(', ')})`);
    }
    throw e;
  }
  const found = new Map((out.TargetGroups || []).map((g) => [g.TargetGroupName, g]));
  const data = {};
  for (const name of names) {
    const group = found.get(name);
    if (!group) throw new Error(`target group ${name} was not found in this region (target_groups)`);
    const dims = dimensionsOf(group);
    for (const [k, v] of Object.entries(dims)) data[`${name}.${k}`] = v;
  }
  return { PhysicalResourceId: `target-group-metrics:${names.join(',')}`.slice(0, 1024), Data: data };
}

/** A CloudFormation custom resource event, against `api` (the Elastic Load Balancing API or a double). */
async function onEvent(event, api) {
  switch (event.RequestType) {
    case 'Create':
    case 'Update':
      return lookup(namesOf(event.ResourceProperties), api);
    case 'Delete':
      return { PhysicalResourceId: event.PhysicalResourceId };
    default:
      throw new Error(`unknown request type ${event.RequestType}`);
  }
}

exports.onEvent = onEvent;
exports.handler = async (event) => onEvent(event, sdkApi());
