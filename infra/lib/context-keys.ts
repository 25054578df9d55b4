/**
 * Every cdk.json context key the app reads, declared once: its name, type, default and help.
 * The configuration reads only keys declared here (a read of another fails at once), the
 * README's configuration table is made from this list (scripts/context-table.ts), and a
 * context key that is not here fails synth with its name and the nearest declared one.
 * Feature flags (`@…`), the keys the CDK CLI writes (`aws:cdk:…`) and cached lookups (keys
 * with a `:`) are the CDK's own and pass.
 */
import type { Node } from 'constructs';

export type KeyType = 'string' | 'boolean' | 'integer' | 'list' | 'list of lists' | 'object' | 'string or integer';

export interface ContextKey {
  readonly name: string;
  readonly type: KeyType;
  /** As the README shows it; absent when the key is required or has no default. */
  readonly default?: string;
  readonly help: string;
}

export const CONTEXT_KEYS: readonly ContextKey[] = [
  { name: 'pipeline_account', type: 'string', help: 'the AWS account of the pipeline (12 digits)' },
  { name: 'pipeline_region', type: 'string', help: "the instances' region: CodeDeploy, the artifact bucket and key, the instance role, the agent" },
  { name: 'build_region', type: 'string', default: 'the pipeline region', help: 'where the build runs when `pipeline_region` has no CodeBuild (stack `InvisiblePipelineBuild`: the projects, triggers, release parameter and bucket; see [Regions](#regions))' },
  { name: 'source_region', type: 'string', default: 'the build region', help: 'where the CodeCommit repository lives when the build region has none (a stack there forwards push events to the build region; the build clones from there)' },
  { name: 'source_provider', type: 'string', default: '`codecommit`', help: '`codecommit` or `github`' },
  { name: 'github_repository', type: 'string', help: 'with `github`: the repository as `owner/name`' },
  { name: 'codeconnections_arn', type: 'string', help: 'with `github`: a CodeConnections connection of the build region (where it has CodeConnections)' },
  { name: 'github_token_secret', type: 'string', help: 'with `github`, instead: the name of a Secrets Manager secret holding a personal access token' },
  { name: 'path_filter', type: 'boolean', default: '`false`', help: 'with `github`: build only when files under `CodeDeploy_Files/` changed' },
  { name: 'repo_name', type: 'string', help: 'the CodeCommit repository of the CodeDeploy files' },
  { name: 'repo_exists', type: 'boolean', default: '`false`', help: 'import the repository by name instead of creating it' },
  { name: 'branch', type: 'string', default: '`main`', help: 'the deployment branch' },
  { name: 'ec2_tag_key', type: 'string', help: 'the EC2 tag key that marks the instances; alone (as in the original sample), the instances whose `Name` tag is this value; not needed with `ec2_tag_set` or `auto_scaling_groups` (the key of `prod_ec2_tag_value` all the same)' },
  { name: 'ec2_tag_value', type: 'string', help: 'the value of `ec2_tag_key` on the instances' },
  { name: 'ec2_tag_set', type: 'list of lists', help: 'instead of `ec2_tag_key`: tag groups, each a list of `"Key=Value"` (up to 3 groups of up to 10 tags): an instance is in the group when it has one tag of every group, e.g. `[["Env=prod"], ["Role=web", "Role=api"]]` (CodeDeploy\'s `ec2TagSet`); supersedes `ec2_tag_key`/`ec2_tag_value` (a synth warning when both are set; `ec2_tag_key` stays the key of `prod_ec2_tag_value`)' },
  { name: 'auto_scaling_groups', type: 'list', help: 'Auto Scaling group names (not ARNs), e.g. `["web-asg"]`: the group deploys to their instances, and CodeDeploy\'s launch hook deploys the last successful revision to each new one (`outdatedInstancesStrategy` UPDATE, termination hook on); supersedes `ec2_tag_key`/`ec2_tag_value` (with `ec2_tag_set`, both); see [Production fleets](#production-fleets-auto-scaling-load-balancers-bluegreen-zones)' },
  { name: 'target_groups', type: 'list', help: 'ALB/NLB target groups (names or ARNs of the pipeline region, up to 10), e.g. `["web-tg"]`: in place, each instance is taken out of them while it is deployed (deployment option `WITH_TRAFFIC_CONTROL`); required by `blue_green`' },
  { name: 'classic_load_balancers', type: 'list', help: 'Classic Load Balancer names (up to 10), e.g. `["web-elb"]`, as `target_groups`' },
  { name: 'deployment_style', type: 'string', default: '`in_place`', help: '`in_place` or `blue_green` (a replacement fleet, then traffic moved to it through `target_groups`)' },
  { name: 'green_fleet', type: 'string', default: '`copy_auto_scaling_group`', help: 'with `blue_green`: `copy_auto_scaling_group` (CodeDeploy copies the one group of `auto_scaling_groups`) or `discover_existing` (instances you launch, chosen per deployment by `green_fleet_tags`)' },
  { name: 'green_fleet_tags', type: 'list', help: 'with `discover_existing`: the tags of the replacement instances, `"Key=Value"` (an instance with any of them), e.g. `["Fleet=green"]`; the build passes them to each deployment (`GREEN_FLEET_TAG`)' },
  { name: 'traffic_reroute', type: 'string', default: '`continue`', help: 'with `blue_green`: `continue` (move traffic as soon as the replacement fleet is ready) or `stop` (wait for a manual reroute, `aws deploy continue-deployment`, at most `traffic_reroute_wait_minutes`, then stop the deployment)' },
  { name: 'traffic_reroute_wait_minutes', type: 'integer', default: '`60`', help: 'with `traffic_reroute: stop`: how long the replacement fleet waits for the manual reroute (1 to 2880)' },
  { name: 'blue_instances', type: 'string', default: '`terminate`', help: 'with `blue_green`: `terminate` the original fleet after `blue_termination_wait_minutes`, or `keep_alive` (deregistered, left running)' },
  { name: 'blue_termination_wait_minutes', type: 'integer', default: '`60`', help: 'with `blue_instances: terminate`: minutes between the traffic move and the original fleet\'s termination (0 to 2880); the build stops following at the traffic move (`WAIT_FOR=traffic`)' },
  { name: 'suspend_asg_processes', type: 'list', help: 'in place, with `auto_scaling_groups`: Auto Scaling processes CodeDeploy suspends during each deployment, of `Terminate`, `AZRebalance`, `InstanceRefresh`, `ScheduledActions` (the group\'s `Ec2DeploymentOptions`)' },
  { name: 'codedeploy_agent', type: 'integer', default: '`1`', help: "the CodeDeploy agent's major version State Manager installs on the instances: `1` (the Ruby agent 1.8.x, Distributor package `AWSCodeDeployAgent`) or `2` (the agent 2.x, package `AWSCodeDeployAgentV2`); either way a second association sets its polling interval to 1 second (see [Which agent does an instance run?](#which-agent-does-an-instance-run))" },
  { name: 'min_healthy_hosts_percent', type: 'integer', default: '`50`', help: "the deployment configuration's healthy-host floor (0 to 99)" },
  { name: 'min_healthy_hosts', type: 'string or integer', default: '`min_healthy_hosts_percent`', help: 'instead of `min_healthy_hosts_percent`, the floor as a percentage, `"75%"` (0% to 99%), or a number of hosts, `2` (0 to 9999)' },
  { name: 'zonal_config', type: 'object', help: 'deploy one Availability Zone at a time: `{"first_zone_monitor_seconds": 900, "monitor_seconds": 300, "min_healthy_hosts_per_zone": "50%"}` (each optional; seconds 0 to 86400; hosts per zone a percentage or a number), for the configurations of both groups' },
  { name: 'configName', type: 'string', help: "the deployment configuration's name (the original sample's key): it is named `<configName>-min-healthy-<percent>` (`<configName>-min-hosts-<count>` for a number of hosts, with `-zonal-<hash>` after it with `zonal_config`), so that a change of the floor makes a new configuration; default: a name CloudFormation chooses" },
  { name: 'deploymentGroupName', type: 'string', help: 'the CodeDeploy deployment group' },
  { name: 'applicationName', type: 'string', help: 'the CodeDeploy application' },
  { name: 'projectName', type: 'string', help: 'the CodeBuild project (the validate project is `<projectName>-validate`)' },
  { name: 'app_archive_parameter', type: 'string', default: '`/invisible-pipeline/app-archive`', help: 'the SSM parameter that names the release archive' },
  { name: 'app_bucket_name', type: 'string', default: 'a bucket the stack creates', help: 'an existing bucket of releases' },
  { name: 'notification_email', type: 'string', help: 'an email subscription of the topics' },
  { name: 'if_busy', type: 'string', default: '`wait`', help: "the build's `--if-busy`: `wait`, `stop-active` or `fail`" },
  { name: 'deploy_windows', type: 'list', help: "when the pipeline's deploys may create deployments: `DAYS HH:MM-HH:MM ZONE` each, e.g. `Mon-Fri 09:00-16:00 Europe/Berlin` (an end at or before the start runs past midnight; `24:00` is an end); outside them a deploy waits (the build's `--deploy-window`); rollbacks are never held" },
  { name: 'freeze', type: 'list', help: 'days on which no deploy creates a deployment: `YYYY-MM-DD..YYYY-MM-DD ZONE` or `YYYY-MM-DD ZONE`, both days included (the build\'s `--freeze`)' },
  { name: 'alarms', type: 'list', help: 'CloudWatch alarm names of the pipeline region, e.g. `["web-p99-latency"]`: CodeDeploy stops a deployment of any of the groups while one of them is in ALARM and rolls it back (alarm configuration, `DEPLOYMENT_STOP_ON_ALARM`); at most 10 with `create_default_alarms`\'s; see [Alarms](#alarms-stop-and-roll-back-a-deployment)' },
  { name: 'create_default_alarms', type: 'boolean', default: '`false`', help: 'the stack makes alarms for the fleet and adds them to `alarms`: per target group and Classic Load Balancer, unhealthy hosts and targets answering 5xx; per Auto Scaling group, failed status checks (none for instances by tag alone); they notify the notification topic' },
  { name: 'branches', type: 'object', help: 'branch environments: branch patterns (an exact name, or a prefix ending in `*`) and the deployment group each deploys to, e.g. `{"develop": "web-dev", "release/*": "web-staging"}` (a group by name: the instances whose `ec2_tag_key` tag is that name; or `{"deployment_group_name": …, "ec2_tag_value" or "ec2_tag_set" or "auto_scaling_groups": …}`); the stack creates the groups, in place; other branches are validated only; never `prod_deployment_group_name`; see [Branch environments](#branch-environments)' },
  { name: 'wait_timeout_minutes', type: 'integer', default: '`60`', help: "the build's `--wait-timeout` (5 to 240)" },
  { name: 'tool_dir', type: 'string', default: '`../dist/tool`', help: 'the folder with the binary and its `.sha256`' },
  { name: 'prod_deployment_group_name', type: 'string', help: 'an optional second deployment group (e.g. `prod`); with it the stack adds the promotion project' },
  { name: 'prod_ec2_tag_value', type: 'string', help: "the value of `ec2_tag_key` on the second group's instances" },
  { name: 'prod_min_healthy_hosts_percent', type: 'integer', default: "the first group's floor", help: "the second group's own healthy-host floor (percent); the second group is in place, by `ec2_tag_key`, whatever the first group's fleet options" },
  { name: 'approvers', type: 'list', help: 'IAM role or group ARNs (a JSON list, or one comma-separated string) that may start the promotion project' },
  { name: 'operators', type: 'list', help: 'IAM role or group ARNs that may start the rollback project' },
];

const DECLARED = new Map(CONTEXT_KEYS.map((k) => [k.name, k]));

/** A declared key's value from `node`'s context; reading an undeclared key is a bug here. */
export function contextValue(node: Node, key: string): unknown {
  if (!DECLARED.has(key)) throw new Error(`context key "${key}" is read but not declared in lib/context-keys.ts`);
  return node.tryGetContext(key);
}

/** The CDK's own keys: feature flags, what the CLI writes (`aws:cdk:…`, and the notices
 * `cdk acknowledge` records), cached lookups. */
function cdkOwn(key: string): boolean {
  return key.startsWith('@') || key.includes(':') || key === 'acknowledged-issue-numbers';
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

/** The declared key nearest to `key`, when it is near enough to be a typo. */
export function nearest(key: string): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const { name } of CONTEXT_KEYS) {
    const d = distance(key.toLowerCase(), name.toLowerCase());
    if (!best || d < best.d) best = { name, d };
  }
  return best && best.d <= Math.max(2, Math.floor(key.length / 3)) ? best.name : undefined;
}

/** The context keys of `context` that the app does not declare, each with its message. */
export function unknownKeys(context: Record<string, unknown>): string[] {
  return Object.keys(context)
    .filter((key) => !cdkOwn(key) && !DECLARED.has(key))
    .sort()
    .map((key) => {
      const near = nearest(key);
      return `cdk.json context "${key}" is not a key of this app${near ? `: did you mean "${near}"?` : ''} (the keys are listed in the README's configuration table)`;
    });
}
