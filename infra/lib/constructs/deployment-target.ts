/**
 * The CodeDeploy side and the EC2 instances it deploys to: application, deployment
 * configuration, deployment group by EC2 tag with automatic rollback, and what the instances
 * need (an instance profile that may read the bundles, and the CodeDeploy agent of the chosen
 * major version, installed and kept up to date by an SSM State Manager association, with a
 * second one that sets its polling interval to 1 second).
 */
import { Validations } from 'aws-cdk-lib';
import * as codedeploy from 'aws-cdk-lib/aws-codedeploy';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import type { ArtifactStore } from './artifact-store.js';
import type { CodeDeployAgentMajor, PipelineConfig } from '../config.js';
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
}

export class DeploymentTarget extends Construct {
  readonly application: codedeploy.ServerApplication;
  readonly deploymentConfig: codedeploy.ServerDeploymentConfig;
  readonly group: codedeploy.ServerDeploymentGroup;
  /** The second group (production), when configured, with its own configuration. */
  readonly prod?: { group: codedeploy.ServerDeploymentGroup; deploymentConfig: codedeploy.ServerDeploymentConfig };
  readonly instanceRole: iam.Role;
  readonly instanceProfile: iam.InstanceProfile;

  constructor(scope: Construct, id: string, props: DeploymentTargetProps) {
    super(scope, id);
    const { config, artifacts } = props;
    this.application = new codedeploy.ServerApplication(this, 'Application', {
      applicationName: config.applicationName,
    });
    this.deploymentConfig = new codedeploy.ServerDeploymentConfig(this, 'Config', {
      deploymentConfigName: deploymentConfigName(config, 'main'),
      minimumHealthyHosts: codedeploy.MinimumHealthyHosts.percentage(config.minHealthyHostsPercent),
    });
    this.group = new codedeploy.ServerDeploymentGroup(this, 'Group', {
      application: this.application,
      deploymentGroupName: config.deploymentGroupName,
      deploymentConfig: this.deploymentConfig,
      ec2InstanceTags: new codedeploy.InstanceTagSet({ [config.ec2TagKey]: [config.ec2TagValue] }),
      installAgent: false,
      // A deployment stopped by a newer run (--if-busy stop-active) must not roll back.
      autoRollback: { failedDeployment: true, stoppedDeployment: false },
    });
    if (config.prod) {
      const deploymentConfig = new codedeploy.ServerDeploymentConfig(this, 'ProdConfig', {
        deploymentConfigName: deploymentConfigName(config, 'prod'),
        minimumHealthyHosts: codedeploy.MinimumHealthyHosts.percentage(config.prod.minHealthyHostsPercent),
      });
      const group = new codedeploy.ServerDeploymentGroup(this, 'ProdGroup', {
        application: this.application,
        deploymentGroupName: config.prod.deploymentGroupName,
        deploymentConfig,
        ec2InstanceTags: new codedeploy.InstanceTagSet({ [config.ec2TagKey]: [config.prod.ec2TagValue] }),
        installAgent: false,
        autoRollback: { failedDeployment: true, stoppedDeployment: false },
      });
      this.prod = { group, deploymentConfig };
    }
    for (const group of [this.group, this.prod?.group]) {
      if (!group) continue;
      Validations.of(group.role!).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRole]',
        reason: 'AWSCodeDeployRole is the service-role policy CodeDeploy documents for EC2/on-premises deployment groups.',
      });
    }

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

    const agent = CODEDEPLOY_AGENTS[config.codedeployAgent];
    const targets = [
      {
        key: `tag:${config.ec2TagKey}`,
        values: [config.ec2TagValue, ...(config.prod ? [config.prod.ec2TagValue] : [])],
      },
    ];
    // Each runs when created, then on its schedule, independently of the other: the
    // configuration script waits for the agent (agentConfigScript).
    const install = new ssm.CfnAssociation(this, 'CodeDeployAgent', {
      name: 'AWS-ConfigureAWSPackage',
      parameters: { action: ['Install'], name: [agent.package] },
      targets,
      scheduleExpression: INSTALL_SCHEDULE,
    });
    const configure = new ssm.CfnAssociation(this, 'CodeDeployAgentConfig', {
      name: 'AWS-RunShellScript',
      // One element, the script as shellcheck sees it (the SSM agent writes the elements of
      // `commands` one per line to the file it runs).
      parameters: { commands: [agentConfigScript(config.codedeployAgent)] },
      targets,
      scheduleExpression: CONFIGURE_SCHEDULE,
    });
    // Created after the install association, so that it is the first to reach the instances.
    configure.addResourceDependency(install);
  }
}
