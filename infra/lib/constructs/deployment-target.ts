/**
 * The CodeDeploy side and the EC2 instances it deploys to: application, deployment
 * configuration (a floor as a percentage or a number of hosts, optionally zone by zone), the
 * first deployment group with automatic rollback, in place (by EC2 tag, tag set or Auto Scaling
 * groups, behind target groups or Classic Load Balancers) or blue/green (lib/constructs/
 * blue-green-group.ts), the optional second group (in place, by tag), the groups of mapped
 * branches (in place), every group with the same alarms (lib/constructs/deployment-alarms.ts)
 * and rollback on failure or alarm, and what the instances
 * need (an instance profile that may read the bundles, and the CodeDeploy agent of the chosen
 * major version, installed and kept up to date by SSM State Manager associations, with a
 * second one that sets its polling interval to 1 second).
 */
import { Duration, Validations } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as codedeploy from 'aws-cdk-lib/aws-codedeploy';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import type { ArtifactStore } from './artifact-store.js';
import { createHash } from 'node:crypto';
import type { BranchGroup, CodeDeployAgentMajor, Fleet, HealthyHosts, PipelineConfig, Tag, ZonalSettings } from '../config.js';
import { BlueGreenGroup } from './blue-green-group.js';
import { deploymentConfigName } from '../shared/fixed-names.js';
import { acknowledgeWildcards, nagArn } from '../shared/nag.js';

/**
 * What differs between the agent's major versions, each fact in one place (sources in the
 * README's "Which agent does an instance run?").
 */
export interface CodeDeployAgent {
  /** The AWS-published Distributor package `AWS-ConfigureAWSPackage` installs. AWS documents
   * Systems Manager for the agent before 2.0.0 (`AWSCodeDeployAgent`) and the
   * `AWSCodeDeployAgentV2` package for 2.x ("Update the CodeDeploy agent on Amazon Linux or
   * RHEL"). The package's `version` parameter takes a full version, not a major one: none is
   * pinned, so each package installs its latest published version. */
  readonly package: string;
  /** The file the agent reads its configuration from: the same path for both (1.x: the agent
   * configuration reference; 2.x: `paths::config_file` in aws/aws-codedeploy-agent). */
  readonly configFile: string;
  /** The line that sets the seconds between polls for commands. 1.x reads YAML symbol keys
   * (`:key:`); 2.x reads `key:` and strips the leading colon of the old form
   * (`strip_symbol_keys` in its `src/config/mod.rs`), and its own shipped file uses the old form,
   * so both write it. 2.x's default is 30 (its code and `conf/codedeployagent.yml`), 1.8's sample
   * configuration has 1. */
  readonly pollSetting: string;
  /** The service both install (1.x `init.d/codedeploy-agent.service`, 2.x
   * `systemd/codedeploy-agent.service`). */
  readonly service: string;
}

const AGENT_CONFIG_FILE = '/etc/codedeploy-agent/conf/codedeployagent.yml';

export const CODEDEPLOY_AGENTS: Record<CodeDeployAgentMajor, CodeDeployAgent> = {
  1: { package: 'AWSCodeDeployAgent', configFile: AGENT_CONFIG_FILE, pollSetting: ':wait_between_runs: 1', service: 'codedeploy-agent' },
  2: { package: 'AWSCodeDeployAgentV2', configFile: AGENT_CONFIG_FILE, pollSetting: ':wait_between_runs: 1', service: 'codedeploy-agent' },
};

/** How often State Manager installs (or updates) the agent, and how often it checks the agent's
 * configuration. The check is cheap and changes nothing when the file is right; run daily, it
 * bounds how long an agent polls slowly after a package update rewrote its file, or after a
 * first run that found the agent not yet installed. */
const INSTALL_SCHEDULE = 'rate(14 days)';
const CONFIGURE_SCHEDULE = 'rate(1 day)';
/** How long the configuration script waits for the install association's agent. */
const INSTALL_WAIT_SECONDS = 600;

/**
 * The script of the configuration association (`AWS-RunShellScript`): sets the agent's polling
 * interval in its configuration file, restarting the agent only when the file changed. Safe to
 * run any number of times, no secret in it. The SSM agent's runShellScript plugin starts the
 * file it writes with `sh -c`: the script is kept POSIX, so that it runs the same whether the
 * `#!/bin/bash` line is honoured or not (the tests run shellcheck as bash and as sh).
 *
 * State Manager runs the two associations independently (both at creation, then each on its
 * schedule), so this one may start before the agent is installed: it waits for the agent at
 * most INSTALL_WAIT_SECONDS, then fails with a message, and its next daily run sets the file.
 * It waits the same way for the chosen major version after a change of `codedeploy_agent`, and
 * fails, naming both versions, when another one is still installed after that (the setting is
 * written all the same: both versions read it).
 */
export function agentConfigScript(major: CodeDeployAgentMajor): string {
  const agent = CODEDEPLOY_AGENTS[major];
  return `#!/bin/bash
# invisible-pipeline: poll CodeDeploy for commands every second (CodeDeploy agent ${major}.x).
# From the stack's State Manager association; changes the file and restarts the agent only
# when the setting is not already there.
set -eu
major=${major}
config=${agent.configFile}
setting='${agent.pollSetting}'
service=${agent.service}
agent=/opt/codedeploy-agent/bin/codedeploy-agent
version_file=/opt/codedeploy-agent/.version
wait_seconds=${INSTALL_WAIT_SECONDS}

# The installed agent's major version: 2.x writes "agent_version: 2.1.0" to .version, 1.x
# "OFFICIAL_1.8.1-..._rpm"; 2.x also answers --version, 1.x does not.
installed_major() {
  found=$(sed -nE 's/.*(OFFICIAL_|agent_version: *)([0-9]+)\\..*/\\2/p' "$version_file" 2>/dev/null | head -n 1)
  if [ -z "$found" ] && [ -x "$agent" ]; then
    found=$("$agent" --version 2>/dev/null | sed -nE 's/^codedeploy-agent ([0-9]+)\\..*/\\1/p' | head -n 1) || true
  fi
  echo "$found"
}

# The other association installs the agent, independently: wait for it, a bounded time.
waited=0
while :; do
  if [ -f "$config" ] && [ -x "$agent" ]; then
    now=$(installed_major)
    if [ -z "$now" ] || [ "$now" = "$major" ]; then break; fi
  fi
  if [ "$waited" -ge "$wait_seconds" ]; then break; fi
  sleep 15
  waited=$((waited + 15))
done
if [ ! -f "$config" ] || [ ! -x "$agent" ]; then
  echo "the CodeDeploy agent is not installed ($agent or $config missing after \${wait_seconds}s):" >&2
  echo "the install association (package ${agent.package}) has not run here yet, or failed; this" >&2
  echo "association sets the polling interval on its next run (${CONFIGURE_SCHEDULE})" >&2
  exit 1
fi

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
# One line of the setting, in place of the first in either form (':key:' or 'key:'; a key
# twice would not parse), else at the end.
awk -v line="$setting" '
  /^:?wait_between_runs:/ { if (!done) print line; done = 1; next }
  { print }
  END { if (!done) print line }
' "$config" >"$tmp"
if cmp -s "$tmp" "$config"; then
  echo "$config already has $setting"
else
  # In place: the file keeps its owner, mode and SELinux label.
  cat "$tmp" >"$config"
  echo "$config: set $setting; restarting $service"
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl restart "$service"
  else
    service "$service" restart
  fi
fi

now=$(installed_major)
echo "CodeDeploy agent installed: major version \${now:-unknown} (expected $major)"
if [ -n "$now" ] && [ "$now" != "$major" ]; then
  echo "the instance runs CodeDeploy agent $now.x, but the stack installs $major.x (codedeploy_agent):" >&2
  echo "see the install association (package ${agent.package}) of this instance" >&2
  exit 1
fi
`;
}

export interface DeploymentTargetProps {
  readonly config: PipelineConfig;
  readonly artifacts: ArtifactStore;
  /** The alarms that stop a deployment of any of the groups (lib/constructs/deployment-alarms.ts). */
  readonly alarms?: cloudwatch.IAlarm[];
}

/** A State Manager target: a tag key (`tag:Key`) and the values an instance may have. */
export interface AgentTarget {
  readonly key: string;
  readonly values: string[];
}

/**
 * The instances the agent associations reach, one target per tag key (an instance matching any
 * value of it), a superset of every group's instances. State Manager documents tag targets
 * (`Key=tag:tag-key,Values=tag-value-1,tag-value-2`, "Target", Systems Manager API reference, and
 * "Running Auto Scaling groups with associations"); each target gets its own pair of associations,
 * so that no two targets of one association must both match.
 * - the first group's tags: the one tag, or of a tag set the group with the fewest keys (an
 *   instance of the set has a tag of every group, so of that one);
 * - its Auto Scaling groups: the tag `aws:autoscaling:groupName` EC2 Auto Scaling puts on their
 *   instances;
 * - a blue/green group's replacement instances chosen by tag (green_fleet_tags);
 * - the second group's tag;
 * - the branch groups' tags (of a tag set, the group with the fewest keys) and Auto Scaling groups.
 */
export function agentTargets(config: PipelineConfig): AgentTarget[] {
  const byKey = new Map<string, string[]>();
  const add = (key: string, value: string) => {
    const values = byKey.get(key) ?? [];
    if (!values.includes(value)) values.push(value);
    byKey.set(key, values);
  };
  const { fleet } = config;
  const instancesOf = (group: { tagSet: Tag[][]; autoScalingGroups: string[] }) => {
    if (group.tagSet.length > 0) {
      const keys = (tags: Tag[]) => new Set(tags.map((t) => t.key)).size;
      const narrowest = group.tagSet.reduce((a, b) => (keys(b) < keys(a) ? b : a));
      for (const t of narrowest) add(`tag:${t.key}`, t.value);
    }
    for (const name of group.autoScalingGroups) add('tag:aws:autoscaling:groupName', name);
  };
  instancesOf(fleet);
  for (const t of fleet.blueGreen?.greenFleetTags ?? []) add(`tag:${t.key}`, t.value);
  if (config.prod && config.ec2TagKey) add(`tag:${config.ec2TagKey}`, config.prod.ec2TagValue);
  config.branches.groups.forEach(instancesOf);
  return [...byKey].map(([key, values]) => ({ key, values }));
}

/** The deployment configuration of a floor, with the zonal settings. */
function configProps(hosts: HealthyHosts, zonal: ZonalSettings | undefined): codedeploy.ServerDeploymentConfigProps {
  const floor = (h: HealthyHosts) => (h.type === 'FLEET_PERCENT' ? codedeploy.MinimumHealthyHosts.percentage(h.value) : codedeploy.MinimumHealthyHosts.count(h.value));
  const perZone = zonal?.minHealthyHostsPerZone;
  return {
    minimumHealthyHosts: floor(hosts),
    zonalConfig: zonal && {
      firstZoneMonitorDuration: zonal.firstZoneMonitorSeconds === undefined ? undefined : Duration.seconds(zonal.firstZoneMonitorSeconds),
      monitorDuration: zonal.monitorSeconds === undefined ? undefined : Duration.seconds(zonal.monitorSeconds),
      minimumHealthyHostsPerZone:
        perZone === undefined
          ? undefined
          : perZone.type === 'FLEET_PERCENT'
            ? codedeploy.MinimumHealthyHostsPerZone.percentage(perZone.value)
            : codedeploy.MinimumHealthyHostsPerZone.count(perZone.value),
    },
  };
}

export class DeploymentTarget extends Construct {
  readonly application: codedeploy.ServerApplication;
  readonly deploymentConfig: codedeploy.ServerDeploymentConfig;
  /** The first group, in place (a CloudFormation deployment group). */
  readonly group?: codedeploy.ServerDeploymentGroup;
  /** The first group, blue/green (through the CodeDeploy API). */
  readonly blueGreen?: BlueGreenGroup;
  /** The first group's name, as a reference to it (what uses it comes after it). */
  readonly groupName: string;
  /** The second group (production), when configured, with its own configuration. */
  readonly prod?: { group: codedeploy.ServerDeploymentGroup; deploymentConfig: codedeploy.ServerDeploymentConfig };
  /** The groups of mapped branches (branches), in place, by name. */
  readonly branchGroups: codedeploy.ServerDeploymentGroup[];
  readonly instanceRole: iam.Role;
  readonly instanceProfile: iam.InstanceProfile;

  constructor(scope: Construct, id: string, props: DeploymentTargetProps) {
    super(scope, id);
    const { config, artifacts } = props;
    const { fleet } = config;
    const guard = guardRails(props.alarms ?? []);
    this.application = new codedeploy.ServerApplication(this, 'Application', {
      applicationName: config.applicationName,
    });
    this.deploymentConfig = new codedeploy.ServerDeploymentConfig(this, 'Config', {
      deploymentConfigName: deploymentConfigName(config, 'main'),
      ...configProps(config.minHealthyHosts, config.zonal),
    });

    this.instanceRole = new iam.Role(this, 'InstanceRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'EC2 instances deployed by invisible-pipeline: SSM agent, CodeDeploy agent, bundle download',
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    Validations.of(this.instanceRole).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
      reason: 'AmazonSSMManagedInstanceCore is the documented minimum for the SSM agent, which installs and updates the CodeDeploy agent.',
    });
    this.instanceRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadBundles',
        actions: ['s3:GetObject', 's3:GetObjectVersion'],
        resources: [artifacts.bundlesArn()],
      }),
    );
    this.instanceRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'DecryptBundles',
        actions: ['kms:Decrypt'],
        resources: [artifacts.key.keyArn],
      }),
    );
    acknowledgeWildcards(this.instanceRole, {
      [`Resource::${nagArn(artifacts.bucket)}/${artifacts.prefix}/*`]:
        'Instances download whichever bundle a deployment names; read-only, limited to the bundles prefix.',
    });
    this.instanceProfile = new iam.InstanceProfile(this, 'InstanceProfile', { role: this.instanceRole });

    if (fleet.blueGreen) {
      this.blueGreen = new BlueGreenGroup(this, 'BlueGreenGroup', {
        application: this.application,
        deploymentGroupName: config.deploymentGroupName,
        deploymentConfig: this.deploymentConfig,
        fleet: { ...fleet, blueGreen: fleet.blueGreen },
        instanceRole: this.instanceRole,
        after: [this.instanceProfile],
        alarmNames: (props.alarms ?? []).map((a) => a.alarmName),
      });
      this.groupName = this.blueGreen.deploymentGroupName;
    } else {
      this.group = new codedeploy.ServerDeploymentGroup(this, 'Group', {
        application: this.application,
        deploymentGroupName: config.deploymentGroupName,
        deploymentConfig: this.deploymentConfig,
        ec2InstanceTags: fleet.tagSet.length > 0 ? new codedeploy.InstanceTagSet(...fleet.tagSet.map(tagGroup)) : undefined,
        installAgent: false,
        ...guard,
      });
      inPlaceFleet(this.group, fleet);
      this.groupName = this.group.deploymentGroupName;
    }
    if (config.prod) {
      if (!config.ec2TagKey) throw new Error('a second group without ec2_tag_key');
      const deploymentConfig = new codedeploy.ServerDeploymentConfig(this, 'ProdConfig', {
        deploymentConfigName: deploymentConfigName(config, 'prod'),
        ...configProps(config.prod.minHealthyHosts, config.zonal),
      });
      const group = new codedeploy.ServerDeploymentGroup(this, 'ProdGroup', {
        application: this.application,
        deploymentGroupName: config.prod.deploymentGroupName,
        deploymentConfig,
        ec2InstanceTags: new codedeploy.InstanceTagSet({ [config.ec2TagKey]: [config.prod.ec2TagValue] }),
        installAgent: false,
        ...guard,
      });
      this.prod = { group, deploymentConfig };
    }
    // The mapped branches' groups share the first group's service role (AWSCodeDeployRole, which
    // the blue/green group's role has too) and configuration.
    const serviceRole = this.group?.role ?? this.blueGreen?.role;
    this.branchGroups = config.branches.groups.map((g) => this.branchGroup(g, serviceRole, guard));
    for (const group of [this.group, this.prod?.group]) {
      if (!group) continue;
      Validations.of(group.role!).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRole]',
        reason: 'AWSCodeDeployRole is the service-role policy CodeDeploy documents for EC2/on-premises deployment groups.',
      });
    }

    const agent = CODEDEPLOY_AGENTS[config.codedeployAgent];
    agentTargets(config).forEach((target, i) => {
      // The first pair keeps the ids the stack had before there could be several.
      const suffix = i === 0 ? '' : createHash('sha256').update(target.key).digest('hex').slice(0, 8);
      const targets = [target];
      // Each runs when created, then on its schedule, independently of the other: the
      // configuration script waits for the agent (agentConfigScript).
      const install = new ssm.CfnAssociation(this, `CodeDeployAgent${suffix}`, {
        name: 'AWS-ConfigureAWSPackage',
        parameters: { action: ['Install'], name: [agent.package] },
        targets,
        scheduleExpression: INSTALL_SCHEDULE,
      });
      const configure = new ssm.CfnAssociation(this, `CodeDeployAgentConfig${suffix}`, {
        name: 'AWS-RunShellScript',
        // One element, the script as shellcheck sees it (the SSM agent writes the elements of
        // `commands` one per line to the file it runs).
        parameters: { commands: [agentConfigScript(config.codedeployAgent)] },
        targets,
        scheduleExpression: CONFIGURE_SCHEDULE,
      });
      // Created after the install association, so that it is the first to reach the instances.
      configure.addResourceDependency(install);
    });
  }

  /** A mapped branch's group (branches): in place, by its tags or Auto Scaling groups, without a
   * load balancer. */
  private branchGroup(g: BranchGroup, role: iam.IRole | undefined, guard: GuardRails): codedeploy.ServerDeploymentGroup {
    const group = new codedeploy.ServerDeploymentGroup(this, `Branch-${g.deploymentGroupName}`, {
      application: this.application,
      deploymentGroupName: g.deploymentGroupName,
      deploymentConfig: this.deploymentConfig,
      role,
      ec2InstanceTags: g.tagSet.length > 0 ? new codedeploy.InstanceTagSet(...g.tagSet.map(tagGroup)) : undefined,
      installAgent: false,
      ...guard,
    });
    inPlaceFleet(group, { ...g, fromTagSet: true, targetGroups: [], classicLoadBalancers: [], suspendAsgProcesses: [] });
    return group;
  }
}

/** What every in-place group of the stack is given to stop and roll back. */
type GuardRails = Pick<codedeploy.ServerDeploymentGroupProps, 'alarms' | 'ignorePollAlarmsFailure' | 'autoRollback'>;

/**
 * The alarm configuration and automatic rollback of every group: a failed deployment rolls back,
 * and so does one CodeDeploy stopped because an alarm went into ALARM (DEPLOYMENT_STOP_ON_ALARM,
 * when there are alarms: "AutoRollbackConfiguration",
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-codedeploy-deploymentgroup-autorollbackconfiguration.html);
 * a deployment stopped by a newer run (--if-busy stop-active) does not. The alarms are enabled and
 * their state must be readable: with ignorePollAlarmFailure false a deployment stops when CloudWatch
 * cannot say ("AlarmConfiguration",
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-codedeploy-deploymentgroup-alarmconfiguration.html;
 * the service role's AWSCodeDeployRole allows cloudwatch:DescribeAlarms).
 */
function guardRails(alarms: cloudwatch.IAlarm[]): GuardRails {
  if (alarms.length === 0) return { autoRollback: { failedDeployment: true, stoppedDeployment: false } };
  return { alarms, ignorePollAlarmsFailure: false, autoRollback: { failedDeployment: true, stoppedDeployment: false, deploymentInAlarm: true } };
}

/** A tag group as the CDK's InstanceTagSet takes it: each key with its values (any of them). */
function tagGroup(group: Tag[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const t of group) out[t.key] = [...(out[t.key] ?? []), t.value];
  return out;
}

/**
 * What the CDK's ServerDeploymentGroup does not take from names, set on its CloudFormation
 * resource (AWS::CodeDeploy::DeploymentGroup):
 * - Auto Scaling groups by name, with OutdatedInstancesStrategy UPDATE (instances launched during
 *   a deployment get its revision by a follow-up deployment) and TerminationHookEnabled (a
 *   scale-in runs the revision's stop hooks before the instance goes); CodeDeploy's launch hook
 *   deploys the last successful revision to every new instance ("Integrating CodeDeploy with
 *   Amazon EC2 Auto Scaling",
 *   https://docs.aws.amazon.com/codedeploy/latest/userguide/integrations-aws-auto-scaling.html);
 * - target groups (by name: TargetGroupInfo takes names) and Classic Load Balancers in
 *   LoadBalancerInfo, with DeploymentOption WITH_TRAFFIC_CONTROL, without which CloudFormation
 *   ignores LoadBalancerInfo (CloudFormation reference, LoadBalancerInfo);
 * - Ec2DeploymentOptions (AutoScalingGroupProcessesToSuspend): a property of the CloudFormation
 *   resource ("AWS::CodeDeploy::DeploymentGroup Ec2DeploymentOptions",
 *   https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-codedeploy-deploymentgroup-ec2deploymentoptions.html)
 *   that cfn-lint 1.58.0's schema does not have yet: its E3002 is ignored on this resource only.
 *   AWSCodeDeployRole already allows autoscaling:SuspendProcesses and ResumeProcesses.
 */
function inPlaceFleet(group: codedeploy.ServerDeploymentGroup, fleet: Fleet): void {
  const cfn = group.node.defaultChild as codedeploy.CfnDeploymentGroup;
  if (fleet.autoScalingGroups.length > 0) {
    cfn.autoScalingGroups = fleet.autoScalingGroups;
    cfn.outdatedInstancesStrategy = 'UPDATE';
    cfn.terminationHookEnabled = true;
  }
  if (fleet.targetGroups.length > 0 || fleet.classicLoadBalancers.length > 0) {
    cfn.loadBalancerInfo = {
      targetGroupInfoList: fleet.targetGroups.length > 0 ? fleet.targetGroups.map((name) => ({ name })) : undefined,
      elbInfoList: fleet.classicLoadBalancers.length > 0 ? fleet.classicLoadBalancers.map((name) => ({ name })) : undefined,
    };
    cfn.deploymentStyle = { deploymentType: 'IN_PLACE', deploymentOption: 'WITH_TRAFFIC_CONTROL' };
  }
  if (fleet.suspendAsgProcesses.length > 0) {
    cfn.ec2DeploymentOptions = { autoScalingGroupProcessesToSuspend: fleet.suspendAsgProcesses };
    // The two schema checks know the resource from before the property: cfn-lint 1.58.0 (E3002)
    // and the CDK's own CloudFormation Validate plugin (F3002), both "additional properties".
    cfn.addMetadata('cfn-lint', { config: { ignore_checks: ['E3002'] } });
    Validations.of(cfn).acknowledge({
      id: 'CloudFormation-Validate::F3002',
      reason:
        'Ec2DeploymentOptions is a property of AWS::CodeDeploy::DeploymentGroup in the CloudFormation reference and of the CDK\'s CfnDeploymentGroup (2.276.0); the bundled registry schema this check uses predates it.',
    });
  }
}
