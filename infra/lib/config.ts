/**
 * The app's configuration: cdk.json context (as in the original sample, plus the keys the
 * original lacked), read once into a typed, validated object. A missing or malformed key
 * fails synth with a message naming it.
 */
import type { Node } from 'constructs';
import { createHash } from 'node:crypto';
import { contextValue, unknownKeys } from './context-keys.js';
import { has, hasService, IMPAIRED, partitionOf, regionData } from './regions.js';

export type IfBusy = 'wait' | 'stop-active' | 'fail';

/** The CodeDeploy agent's major versions State Manager can install (codedeploy_agent). */
export const CODEDEPLOY_AGENT_MAJORS = [1, 2] as const;
export type CodeDeployAgentMajor = (typeof CODEDEPLOY_AGENT_MAJORS)[number];
/** What the `AWSCodeDeployAgent` package installs, and what the stack installed before the key
 * existed: AWS documents Systems Manager for the agent before 2.0.0 and 2.x as an opt-in
 * upgrade (the `AWSCodeDeployAgentV2` package). */
export const DEFAULT_CODEDEPLOY_AGENT: CodeDeployAgentMajor = 1;

/** A healthy-host floor: a percentage of the fleet or a number of hosts (CodeDeploy's
 * MinimumHealthyHosts and MinimumHealthyHostsPerZone). */
export interface HealthyHosts {
  readonly type: 'FLEET_PERCENT' | 'HOST_COUNT';
  readonly value: number;
}

/** One Availability Zone at a time (CodeDeploy's ZonalConfig; zonal_config). */
export interface ZonalSettings {
  readonly firstZoneMonitorSeconds?: number;
  readonly monitorSeconds?: number;
  readonly minHealthyHostsPerZone?: HealthyHosts;
}

/** An EC2 tag, `Key=Value` in cdk.json. */
export interface Tag {
  readonly key: string;
  readonly value: string;
}

/** The Auto Scaling processes CodeDeploy can suspend during an in-place deployment
 * (EC2DeploymentOptions.autoScalingGroupProcessesToSuspend, CodeDeploy API reference). */
export const ASG_PROCESSES = ['Terminate', 'AZRebalance', 'InstanceRefresh', 'ScheduledActions'] as const;

/** How a blue/green group replaces its fleet (deployment_style blue_green). */
export interface BlueGreen {
  /** COPY_AUTO_SCALING_GROUP or DISCOVER_EXISTING. */
  readonly greenFleet: 'copy_auto_scaling_group' | 'discover_existing';
  /** discover_existing: the tags of the replacement instances (any of them), passed to each
   * deployment by the build (CreateDeployment's targetInstances). */
  readonly greenFleetTags: Tag[];
  /** CONTINUE_DEPLOYMENT or STOP_DEPLOYMENT (after trafficRerouteWaitMinutes). */
  readonly trafficReroute: 'continue' | 'stop';
  readonly trafficRerouteWaitMinutes?: number;
  /** TERMINATE (after blueTerminationWaitMinutes) or KEEP_ALIVE. */
  readonly blueInstances: 'terminate' | 'keep_alive';
  readonly blueTerminationWaitMinutes?: number;
}

/** The first group's instances and how they are deployed. */
export interface Fleet {
  /** Tag groups, an instance has one tag of every group (CodeDeploy's ec2TagSet): ec2_tag_set, or
   * the one tag ec2_tag_key=ec2_tag_value; [] when the group has no tag. */
  readonly tagSet: Tag[][];
  /** Whether tagSet is ec2_tag_set (not the one tag of ec2_tag_key). */
  readonly fromTagSet: boolean;
  readonly autoScalingGroups: string[];
  /** Target group names (ARNs are reduced to their names: CodeDeploy takes names). */
  readonly targetGroups: string[];
  readonly classicLoadBalancers: string[];
  /** Absent: in place. */
  readonly blueGreen?: BlueGreen;
  /** In place with Auto Scaling groups: the group's Ec2DeploymentOptions. */
  readonly suspendAsgProcesses: string[];
}

/** CodeDeploy's limit of alarms in a deployment group's alarm configuration ("A maximum of 10
 * alarms can be added", AlarmConfiguration, CodeDeploy API reference,
 * https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_AlarmConfiguration.html). */
export const MAX_GROUP_ALARMS = 10;

/** An alarm the stack makes for the fleet (create_default_alarms), by what it watches:
 * - `unhealthy-hosts`: a target group's (or a Classic Load Balancer's) UnHealthyHostCount;
 * - `target-5xx`: the share of its requests the targets answered with a 5xx;
 * - `status-check-failed`: StatusCheckFailed of an Auto Scaling group's instances.
 * Made by lib/constructs/deployment-alarms.ts. */
export interface DefaultAlarm {
  readonly name: string;
  readonly kind: 'unhealthy-hosts' | 'target-5xx' | 'status-check-failed';
  /** What it watches: a target group, a Classic Load Balancer or an Auto Scaling group, by name. */
  readonly source: { readonly type: 'target-group' | 'classic-load-balancer' | 'auto-scaling-group'; readonly name: string };
}

/** What stops a deployment: CloudWatch alarms of the pipeline region (alarms) and the alarms the
 * stack makes for the fleet (create_default_alarms); every group of the stack gets all of them. */
export interface Alarms {
  /** Alarm names (alarms), as CodeDeploy's AlarmConfiguration takes them. */
  readonly names: string[];
  /** The fleet's default alarms (create_default_alarms); [] without it. */
  readonly defaults: DefaultAlarm[];
}

/** A deployment group the stack creates for mapped branches (branches): in place, without a load
 * balancer, with the first group's application, service role, configuration, alarms and rollback. */
export interface BranchGroup {
  readonly deploymentGroupName: string;
  /** Tag groups, an instance has one tag of every group (CodeDeploy's ec2TagSet); [] with Auto
   * Scaling groups alone. */
  readonly tagSet: Tag[][];
  readonly autoScalingGroups: string[];
}

/** A branch pattern (an exact name, or a prefix: `release/*`) and the group its pushes deploy to. */
export interface BranchMapping {
  readonly pattern: string;
  /** The pattern without its trailing `*` when it is a prefix. */
  readonly prefix?: string;
  readonly group: string;
}

/** Branch environments (branches): which push deploys where. */
export interface Branches {
  /** In the order given. */
  readonly mappings: BranchMapping[];
  /** The groups the stack creates for them: every mapped group but the first group. */
  readonly groups: BranchGroup[];
}

export interface PipelineConfig {
  /** AWS account of the pipeline. */
  readonly account: string;
  /** Region of the pipeline and its instances: CodeDeploy, the artifact bucket and key, the
   * instance role, the agent, the deployment notifications (and, without build_region, the
   * build too). */
  readonly region: string;
  /** Region of the build when it is not `region` (build_region): CodeBuild, the triggers, the
   * release parameter and bucket. For regions without CodeBuild. */
  readonly buildRegion?: string;
  /** Region of the CodeCommit repository when it is not the build's (source_region; by default
   * the build's region). */
  readonly sourceRegion?: string;
  readonly repoName: string;
  /** Where the CodeDeploy files live: CodeCommit (repo_name) or GitHub (github). */
  readonly sourceProvider: 'codecommit' | 'github';
  /** The GitHub repository and how CodeBuild reaches it (source_provider github). */
  readonly github?: {
    /** `owner/name`. */
    readonly owner: string;
    readonly repo: string;
    /** A CodeConnections connection (where the build region has CodeConnections)... */
    readonly connectionArn?: string;
    /** ...or the name of a Secrets Manager secret holding a personal access token. */
    readonly tokenSecret?: string;
    /** Build only when files under CodeDeploy_Files/ changed. */
    readonly pathFilter: boolean;
  };
  /** Import the repository by name instead of creating it. */
  readonly repoExists: boolean;
  readonly branch: string;
  /** The tag key of ec2_tag_key (`Name` when it is given alone, as in the original sample):
   * the first group's tag, unless ec2_tag_set or auto_scaling_groups supersede it, and the key of
   * prod_ec2_tag_value. Absent when neither group uses it. */
  readonly ec2TagKey?: string;
  /** The first group's instances and how they are deployed (tags, tag set, Auto Scaling groups,
   * load balancers, in place or blue/green). */
  readonly fleet: Fleet;
  /** The first group's healthy-host floor: min_healthy_hosts, else min_healthy_hosts_percent. */
  readonly minHealthyHosts: HealthyHosts;
  /** zonal_config, for the configurations of both groups. */
  readonly zonal?: ZonalSettings;
  /** The CodeDeploy agent's major version State Manager installs on the instances. */
  readonly codedeployAgent: CodeDeployAgentMajor;
  /** The name of the deployment configuration of the group (configName, the original sample's
   * key), before its percentage suffix. */
  readonly configName?: string;
  readonly deploymentGroupName: string;
  readonly applicationName: string;
  readonly projectName: string;
  readonly appArchiveParameter: string;
  /** An existing bucket holding application releases; created when absent. */
  readonly appBucketName?: string;
  readonly notificationEmail?: string;
  readonly ifBusy: IfBusy;
  /** How long the build follows a deployment, in minutes. */
  readonly waitTimeoutMinutes: number;
  /** Deployment windows (`--deploy-window`) and freezes (`--freeze`), as the binary reads them. */
  readonly deployWindows: string[];
  readonly freezes: string[];
  /** The alarms that stop a deployment (alarms, create_default_alarms). */
  readonly alarms: Alarms;
  /** Branch environments (branches); no mapping when unset. */
  readonly branches: Branches;
  /** A second deployment group (e.g. production) that the promotion project deploys to. */
  readonly prod?: {
    readonly deploymentGroupName: string;
    readonly ec2TagValue: string;
    readonly minHealthyHosts: HealthyHosts;
  };
  /** IAM roles and groups (ARNs) that may start the promotion project: the approval. */
  readonly approvers: string[];
  /** IAM roles and groups (ARNs) that may start the rollback project. */
  readonly operators: string[];
  /** What synth says about how the configuration was read (e.g. the original sample's tag). */
  readonly notes: string[];
  /** What synth warns about: settings that are read but superseded by others. */
  readonly warnings: string[];
}

export class ConfigError extends Error {}

const NAME = /^[A-Za-z0-9._-]{1,100}$/;

type Raw = (key: string) => unknown;

function text(raw: Raw, key: string, pattern: RegExp, what: string, fallback?: string): string {
  const value = raw(key) ?? fallback;
  if (value === undefined || value === null || value === '') {
    throw new ConfigError(`cdk.json context "${key}" is missing: set it to ${what}`);
  }
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw new ConfigError(`cdk.json context "${key}" is ${JSON.stringify(value)}: expected ${what}`);
  }
  return value;
}

function optional(raw: Raw, key: string, pattern: RegExp, what: string): string | undefined {
  const value = raw(key);
  return value === undefined || value === null || value === '' ? undefined : text(raw, key, pattern, what);
}

function flag(raw: Raw, key: string, fallback: boolean): boolean {
  const value = raw(key);
  if (value === undefined || value === null || value === '') return fallback;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new ConfigError(`cdk.json context "${key}" is ${JSON.stringify(value)}: expected true or false`);
}

function integer(raw: Raw, key: string, fallback: number, min: number, max: number): number {
  const value = raw(key) ?? fallback;
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`cdk.json context "${key}" is ${JSON.stringify(value)}: expected a whole number from ${min} to ${max}`);
  }
  return n;
}

/** One of `allowed`, as the integer or its string (`2` or `"2"`). */
function oneOf<T extends number>(raw: Raw, key: string, allowed: readonly T[], fallback: T, what: string): T {
  const value = raw(key);
  if (value === undefined || value === null || value === '') return fallback;
  const n = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  if (!allowed.includes(n as T)) {
    throw new ConfigError(`cdk.json context "${key}" is ${JSON.stringify(value)}: expected ${allowed.slice(0, -1).join(', ')} or ${allowed[allowed.length - 1]} (${what})`);
  }
  return n as T;
}

const PRINCIPAL = /^arn:aws[a-z-]*:iam::\d{12}:(role|group)\/[\w+=,.@/-]+$/;

/** A list of IAM role or group ARNs: a JSON array, or one string of comma-separated ARNs. */
function principals(raw: Raw, key: string): string[] {
  const value = raw(key);
  if (value === undefined || value === null || value === '') return [];
  const list = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',').map((v) => v.trim()) : [value];
  for (const arn of list) {
    if (typeof arn !== 'string' || !PRINCIPAL.test(arn)) {
      throw new ConfigError(
        `cdk.json context "${key}" has ${JSON.stringify(arn)}: expected IAM role or group ARNs such as arn:<partition>:iam::123456789012:role/Approver (partition: aws, or aws-eusc in the European Sovereign Cloud)`,
      );
    }
  }
  return list as string[];
}

/** A deployment window as the binary parses it (src/deployment/window.rs): days as a range or a
 * comma list, times HH:MM (or HH:MM:SS; 24:00 as an end), a zone. */
const DAY = '(Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const DAYS = `${DAY}(-${DAY})?(,${DAY}(-${DAY})?)*`;
const TIME = '([01]\\d|2[0-3]):[0-5]\\d(:[0-5]\\d)?';
const WINDOW = new RegExp(`^${DAYS} ${TIME}-(${TIME}|24:00) (\\S+)$`, 'i');
const FREEZE = /^(\d{4}-\d{2}-\d{2})(\.\.(\d{4}-\d{2}-\d{2}))? (\S+)$/;

/** A list of windows or freezes, each checked as the binary reads it, its zone one that the
 * IANA database knows (what Intl accepts); the build gets them joined by ';'. */
function schedule(raw: Raw, key: string, pattern: RegExp, what: string): string[] {
  const value = raw(key);
  if (value === undefined || value === null || value === '') return [];
  const list = Array.isArray(value) ? value : [value];
  return list.map((item) => {
    const text = typeof item === 'string' ? item.trim().replace(/\s+/g, ' ') : '';
    const match = pattern.exec(text);
    const zone = match?.[match.length - 1];
    let known = false;
    try {
      known = zone !== undefined && new Intl.DateTimeFormat('en', { timeZone: zone }).resolvedOptions().timeZone !== undefined;
    } catch {
      known = false;
    }
    if (!match || !known || text.includes(';')) {
      throw new ConfigError(`cdk.json context "${key}" has ${JSON.stringify(item)}: expected ${what}, with a time zone of the IANA database`);
    }
    if (pattern === FREEZE && match[3] !== undefined && match[3] < match[1]) {
      throw new ConfigError(`cdk.json context "${key}" has ${JSON.stringify(item)}: it ends before it starts`);
    }
    return text;
  });
}

/** The region of the build: `build_region`, else the pipeline's. */
export function buildRegionOf(config: PipelineConfig): string {
  return config.buildRegion ?? config.region;
}

/** Reads and checks the configuration from a construct's context (usually the App's). */
export function readConfig(node: Node): PipelineConfig {
  const unknown = unknownKeys(node.getAllContext());
  if (unknown.length) throw new ConfigError(unknown.join('; '));
  const raw: Raw = (key) => contextValue(node, key);
  const notes: string[] = [];
  // Two letters (ap-southeast-7), or four in the European Sovereign Cloud (eusc-de-east-1).
  const region = /^[a-z]{2,4}(-[a-z]+)+-\d$/;
  const ifBusy = text(raw, 'if_busy', /^(wait|stop-active|fail)$/, 'wait, stop-active or fail', 'wait') as IfBusy;
  const pipelineRegion = text(raw, 'pipeline_region', region, 'a region such as ap-southeast-7');
  const buildRegion = optional(raw, 'build_region', region, 'a region with CodeBuild such as ca-central-1') ?? pipelineRegion;
  const sourceRegion = optional(raw, 'source_region', region, 'a region such as ap-southeast-1') ?? buildRegion;
  const gh = github(raw);
  if (gh?.connectionArn) {
    const connectionRegion = gh.connectionArn.split(':')[3];
    if (connectionRegion !== buildRegion) {
      throw new ConfigError(
        `cdk.json context "codeconnections_arn" is a connection in ${connectionRegion}, but the build runs in ${buildRegion}: CodeBuild uses a connection of its own region`,
      );
    }
    if (!has('AWS::CodeConnections', buildRegion)) {
      throw new ConfigError(
        `CodeConnections does not exist in ${buildRegion} (${regionData.source}): set "github_token_secret" (a Secrets Manager secret holding a GitHub personal access token) instead of "codeconnections_arn"`,
      );
    }
  }
  checkRegions(pipelineRegion, buildRegion, gh ? undefined : sourceRegion, flag(raw, 'repo_exists', false), notes);
  const account = text(raw, 'pipeline_account', /^\d{12}$/, 'a 12-digit AWS account id');
  const deploymentGroupName = text(raw, 'deploymentGroupName', NAME, 'a CodeDeploy deployment group name');
  const minHealthyHosts = floor(raw);
  const zonal = zonalConfig(raw);
  const configName = optional(raw, 'configName', /^[A-Za-z0-9._-]{1,70}$/, 'a CodeDeploy deployment configuration name of at most 70 characters (a suffix with the floor is added)');
  if (configName) {
    notes.push(
      `cdk.json context "configName" is "${configName}": the deployment configuration is named "${configName}-${floorName(minHealthyHosts, zonal)}". CloudFormation replaces a deployment configuration on any change, and a replacement under the same name would fail: the floor in the name makes a new floor a new configuration.`,
    );
  }
  const warnings: string[] = [];
  const prodName = optional(raw, 'prod_deployment_group_name', NAME, 'a CodeDeploy deployment group name');
  const { ec2TagKey, tagKey, fleet } = targets(raw, { region: pipelineRegion, account, deploymentGroupName, prod: prodName !== undefined }, notes, warnings);
  const applicationName = text(raw, 'applicationName', NAME, 'a CodeDeploy application name');
  const branch = text(raw, 'branch', /^[^\s~^:?*[\\]+$/, 'a branch name', 'main');
  return {
    account,
    region: pipelineRegion,
    buildRegion: buildRegion === pipelineRegion ? undefined : buildRegion,
    // The repository's region matters for CodeCommit only.
    sourceRegion: gh || sourceRegion === buildRegion ? undefined : sourceRegion,
    repoName: text(raw, 'repo_name', NAME, 'a CodeCommit repository name'),
    sourceProvider: text(raw, 'source_provider', /^(codecommit|github)$/, 'codecommit or github', 'codecommit') as 'codecommit' | 'github',
    github: gh,
    repoExists: flag(raw, 'repo_exists', false),
    branch,
    ec2TagKey,
    fleet,
    minHealthyHosts,
    zonal,
    codedeployAgent: oneOf(raw, 'codedeploy_agent', CODEDEPLOY_AGENT_MAJORS, DEFAULT_CODEDEPLOY_AGENT, "the CodeDeploy agent's major version"),
    configName,
    deploymentGroupName,
    applicationName,
    projectName: text(raw, 'projectName', /^[A-Za-z0-9][A-Za-z0-9_-]{1,254}$/, 'a CodeBuild project name'),
    appArchiveParameter: text(raw, 'app_archive_parameter', /^\/?[A-Za-z0-9_.\-/]{1,1000}$/, 'an SSM parameter name such as /app/release', '/invisible-pipeline/app-archive'),
    appBucketName: optional(raw, 'app_bucket_name', /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name'),
    notificationEmail: optional(raw, 'notification_email', /^[^@\s]+@[^@\s]+\.[^@\s]+$/, 'an email address'),
    ifBusy,
    waitTimeoutMinutes: integer(raw, 'wait_timeout_minutes', 60, 5, 240),
    deployWindows: schedule(raw, 'deploy_windows', WINDOW, 'DAYS HH:MM-HH:MM ZONE, e.g. "Mon-Fri 09:00-16:00 Europe/Berlin"'),
    freezes: schedule(raw, 'freeze', FREEZE, 'YYYY-MM-DD..YYYY-MM-DD ZONE or YYYY-MM-DD ZONE, e.g. "2026-12-21..2027-01-03 Europe/Berlin"'),
    alarms: alarmsOf(raw, applicationName, fleet, notes),
    branches: branchesOf(raw, { branch, deploymentGroupName, prodName, tagKey }, notes),
    prod: prodGroup(raw, minHealthyHosts, ec2TagKey),
    approvers: principals(raw, 'approvers'),
    operators: principals(raw, 'operators'),
    notes,
    warnings,
  };
}

/**
 * What the regions allow: the build and the repository in the pipeline's partition (a role,
 * a key or an event bus never crosses one), CodeCommit where an existing repository is said to
 * be (a created one is the synth check's, by its resource type), and a note for a region AWS
 * reported impaired.
 */
function checkRegions(pipeline: string, build: string, source: string | undefined, repoExists: boolean, notes: string[]): void {
  const partition = partitionOf(pipeline);
  for (const [key, region] of [['build_region', build], ['source_region', source]] as const) {
    const other = region && partitionOf(region);
    if (partition && other && other !== partition) {
      throw new ConfigError(
        `cdk.json context "${key}" is ${region}, in partition ${other}, but the pipeline region ${pipeline} is in ${partition}: the build and the repository must be in the pipeline's partition`,
      );
    }
  }
  if (source && repoExists && !hasService('codecommit', source)) {
    const where = source === build ? 'the build region' : '"source_region"';
    throw new ConfigError(
      `cdk.json context "repo_exists" is true, but CodeCommit does not exist in ${source} (${regionData.services_source}), ${where}: set "source_region" to a region of ${partition ?? 'the partition'} with CodeCommit, or set "source_provider" to github`,
    );
  }
  for (const region of new Set([pipeline, build, source])) {
    if (region && IMPAIRED[region]) notes.push(`${region}: ${IMPAIRED[region]}.`);
  }
}

/**
 * The tag of ec2_tag_key and ec2_tag_value. The original sample has `ec2_tag_key` only and uses
 * its value as the value of the tag `Name`: without `ec2_tag_value` that is what it means here
 * too (said as a note when the tag is used, by `sampleNote`).
 */
function simpleTag(raw: Raw): { tag: Tag; sample: boolean } | undefined {
  const key = optional(raw, 'ec2_tag_key', /^.{1,256}$/, 'the EC2 tag key that marks the instances');
  const value = optional(raw, 'ec2_tag_value', /^.{1,256}$/, 'the value of that tag on the instances');
  if (key === undefined) {
    if (value !== undefined) throw new ConfigError('cdk.json context "ec2_tag_value" is set without "ec2_tag_key": set the tag\'s key too');
    return undefined;
  }
  if (value !== undefined) {
    if (key.length > 128) throw new ConfigError(`cdk.json context "ec2_tag_key" is ${key.length} characters long: an EC2 tag key has at most 128`);
    return { tag: { key, value }, sample: false };
  }
  return { tag: { key: 'Name', value: key }, sample: true };
}

function sampleNote(key: string): string {
  return `cdk.json context "ec2_tag_key" is set without "ec2_tag_value": as in the original sample, the deployment group targets the instances whose tag Name is "${key}". To target another tag, set "ec2_tag_key" to its key and "ec2_tag_value" to its value.`;
}

function isSet(raw: Raw, key: string): boolean {
  const value = raw(key);
  return value !== undefined && value !== null && value !== '';
}

/** A JSON value given on the command line (`cdk synth -c key='[...]'` passes a string). */
function structured(raw: Raw, key: string, opening: string): unknown {
  const value = raw(key);
  if (typeof value !== 'string' || !value.trim().startsWith(opening)) return value;
  try {
    return JSON.parse(value);
  } catch {
    throw new ConfigError(`cdk.json context "${key}" is ${JSON.stringify(value)}: not valid JSON`);
  }
}

/** A list of strings: a JSON list, or one comma-separated string; [] when unset. Each must match
 * `pattern`, none twice, at most `max`. */
function names(raw: Raw, key: string, pattern: RegExp, what: string, max: number): string[] {
  if (!isSet(raw, key)) return [];
  return nameList(structured(raw, key, '['), key, pattern, what, max);
}

/** `names` of a value already read (`key` names it in the messages). */
function nameList(value: unknown, key: string, pattern: RegExp, what: string, max: number): string[] {
  const list = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',').map((v) => v.trim()) : [value];
  for (const item of list) {
    if (typeof item !== 'string' || !pattern.test(item)) {
      throw new ConfigError(`cdk.json context "${key}" has ${JSON.stringify(item)}: expected ${what}`);
    }
  }
  const twice = list.find((item, i) => list.indexOf(item) !== i);
  if (twice !== undefined) throw new ConfigError(`cdk.json context "${key}" has ${JSON.stringify(twice)} twice`);
  if (list.length > max) throw new ConfigError(`cdk.json context "${key}" has ${list.length} entries: CodeDeploy takes at most ${max}`);
  return list as string[];
}

/** `Key=Value` (the value may hold `=`): an EC2 tag key of 1 to 128 characters, a value of 1 to 256. */
function tag(item: unknown): Tag | undefined {
  if (typeof item !== 'string') return undefined;
  const at = item.indexOf('=');
  const [key, value] = [item.slice(0, at), item.slice(at + 1)];
  if (at < 1 || key.length > 128 || value.length === 0 || value.length > 256) return undefined;
  return { key, value };
}

const TAG_SET_FORM = 'tag groups, each a list of "Key=Value", e.g. [["Env=prod"], ["Role=web", "Role=api"]] (at most 3 groups of at most 10 tags; an instance is in the deployment group when it has a tag of every group)';

/** ec2_tag_set: 1 to 3 groups of 1 to 10 tags ("You can create up to three tag groups with up
 * to ten key-value pairs each", CodeDeploy User Guide, "Create a deployment group for an in-place
 * deployment (console)"). */
function tagSet(raw: Raw): Tag[][] | undefined {
  if (!isSet(raw, 'ec2_tag_set')) return undefined;
  return tagSetOf(structured(raw, 'ec2_tag_set', '['), 'ec2_tag_set');
}

/** `tagSet` of a value already read (`key` names it in the messages). */
function tagSetOf(value: unknown, key: string): Tag[][] {
  const fail = (problem: string) => new ConfigError(`cdk.json context "${key}" ${problem}: expected ${TAG_SET_FORM}`);
  if (!Array.isArray(value) || value.length === 0) throw fail(`is ${JSON.stringify(value)}`);
  if (value.every((g) => typeof g === 'string')) {
    throw fail(`is one list of tags, ${JSON.stringify(value)}: put each group in brackets, e.g. [${JSON.stringify(value)}] for one group`);
  }
  if (value.length > 3) throw fail(`has ${value.length} groups`);
  return value.map((group, i) => {
    if (!Array.isArray(group) || group.length === 0 || group.length > 10) throw fail(`has group ${i + 1} ${JSON.stringify(group)}`);
    return group.map((item) => {
      const t = tag(item);
      if (!t) throw fail(`has ${JSON.stringify(item)} in group ${i + 1}`);
      return t;
    });
  });
}

/** One of `allowed` (a string), or `fallback`. */
function choice<T extends string>(raw: Raw, key: string, allowed: readonly T[], fallback: T): T {
  const value = raw(key);
  if (value === undefined || value === null || value === '') return fallback;
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw new ConfigError(`cdk.json context "${key}" is ${JSON.stringify(value)}: expected ${allowed.slice(0, -1).join(', ')} or ${allowed[allowed.length - 1]}`);
  }
  return value as T;
}

/** A percentage ("75%", 0% to 99%) or a number of hosts (2, 0 to 9999). */
function healthyHosts(value: unknown, key: string): HealthyHosts {
  const percent = typeof value === 'string' ? /^\s*(\d{1,2})\s*%\s*$/.exec(value) : null;
  if (percent) return { type: 'FLEET_PERCENT', value: Number(percent[1]) };
  const n = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 9999) return { type: 'HOST_COUNT', value: n };
  throw new ConfigError(`cdk.json context "${key}" is ${JSON.stringify(value)}: expected a percentage such as "75%" (0% to 99%) or a number of hosts such as 2 (0 to 9999)`);
}

/** The first group's floor: min_healthy_hosts, else min_healthy_hosts_percent (50 by default). */
function floor(raw: Raw): HealthyHosts {
  if (!isSet(raw, 'min_healthy_hosts')) return { type: 'FLEET_PERCENT', value: integer(raw, 'min_healthy_hosts_percent', 50, 0, 99) };
  if (isSet(raw, 'min_healthy_hosts_percent')) {
    throw new ConfigError('cdk.json context "min_healthy_hosts" and "min_healthy_hosts_percent" are both set: keep one ("min_healthy_hosts" takes a percentage such as "75%" or a number of hosts such as 2)');
  }
  return healthyHosts(raw('min_healthy_hosts'), 'min_healthy_hosts');
}

const ZONAL_KEYS = ['first_zone_monitor_seconds', 'monitor_seconds', 'min_healthy_hosts_per_zone'] as const;

/** zonal_config: the three zonal settings of the deployment configurations (ZonalConfig). */
function zonalConfig(raw: Raw): ZonalSettings | undefined {
  if (!isSet(raw, 'zonal_config')) return undefined;
  const value = structured(raw, 'zonal_config', '{');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`cdk.json context "zonal_config" is ${JSON.stringify(value)}: expected an object of ${ZONAL_KEYS.join(', ')}, e.g. {"first_zone_monitor_seconds": 900, "monitor_seconds": 300, "min_healthy_hosts_per_zone": "50%"}`);
  }
  const object = value as Record<string, unknown>;
  for (const key of Object.keys(object)) {
    if (!(ZONAL_KEYS as readonly string[]).includes(key)) {
      throw new ConfigError(`cdk.json context "zonal_config" has "${key}": expected ${ZONAL_KEYS.join(', ')}`);
    }
  }
  const seconds = (key: string): number | undefined => {
    const v = object[key];
    if (v === undefined || v === null || v === '') return undefined;
    const n = typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 86400) {
      throw new ConfigError(`cdk.json context "zonal_config.${key}" is ${JSON.stringify(v)}: expected whole seconds from 0 to 86400`);
    }
    return n;
  };
  const perZone = object.min_healthy_hosts_per_zone;
  return {
    firstZoneMonitorSeconds: seconds('first_zone_monitor_seconds'),
    monitorSeconds: seconds('monitor_seconds'),
    minHealthyHostsPerZone:
      perZone === undefined || perZone === null || perZone === '' ? undefined : healthyHosts(perZone, 'zonal_config.min_healthy_hosts_per_zone'),
  };
}

/** The part of a deployment configuration's fixed name that changes with its settings: the
 * floor (`min-healthy-50`, `min-hosts-2`) and, with zonal settings, a hash of them. */
export function floorName(hosts: HealthyHosts, zonal?: ZonalSettings): string {
  const base = hosts.type === 'FLEET_PERCENT' ? `min-healthy-${hosts.value}` : `min-hosts-${hosts.value}`;
  if (!zonal) return base;
  const settings = JSON.stringify([zonal.firstZoneMonitorSeconds ?? null, zonal.monitorSeconds ?? null, zonal.minHealthyHostsPerZone ?? null]);
  return `${base}-zonal-${createHash('sha256').update(settings).digest('hex').slice(0, 6)}`;
}

/** A target group by name, or by ARN of the pipeline's account and region (reduced to its name:
 * CodeDeploy's TargetGroupInfo takes the name). */
function targetGroupName(item: string, where: { region: string; account: string }): string {
  const arn = /^arn:aws[a-z-]*:elasticloadbalancing:([a-z0-9-]+):(\d{12}):targetgroup\/([^/]+)\/[0-9a-f]+$/.exec(item);
  if (!arn) return item;
  const [, region, account, name] = arn;
  if (region !== where.region || account !== where.account) {
    throw new ConfigError(
      `cdk.json context "target_groups" has ${JSON.stringify(item)}, a target group of ${account} in ${region}: CodeDeploy deploys with target groups of its own account and region (${where.account}, ${where.region})`,
    );
  }
  return name;
}

/** ELB names: 1 to 32 letters, digits and hyphens, no hyphen first or last. */
const ELB_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$/;
const TARGET_GROUP = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?|arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup\/[A-Za-z0-9-]{1,32}\/[0-9a-f]+)$/;
/** Auto Scaling group names: 1 to 255 characters, not an ARN (CodeDeploy takes names). */
const ASG_NAME = /^(?!arn:)\S.{0,254}$/;

const BLUE_GREEN_KEYS = ['green_fleet', 'green_fleet_tags', 'traffic_reroute', 'traffic_reroute_wait_minutes', 'blue_instances', 'blue_termination_wait_minutes'];

/**
 * The first group's instances (tags, a tag set, Auto Scaling groups), its load balancers and its
 * deployment style, each checked against the others; and the key of ec2_tag_key, which the
 * second group uses too.
 */
function targets(
  raw: Raw,
  where: { region: string; account: string; deploymentGroupName: string; prod: boolean },
  notes: string[],
  warnings: string[],
): { ec2TagKey?: string; tagKey?: string; fleet: Fleet } {
  const simple = simpleTag(raw);
  const set = tagSet(raw);
  const autoScalingGroups = names(raw, 'auto_scaling_groups', ASG_NAME, 'Auto Scaling group names (not ARNs)', 100);
  const targetGroups = names(raw, 'target_groups', TARGET_GROUP, 'target group names (1 to 32 letters, digits or hyphens) or target group ARNs', 10).map((t) =>
    targetGroupName(t, where),
  );
  const classicLoadBalancers = names(raw, 'classic_load_balancers', ELB_NAME, 'Classic Load Balancer names (1 to 32 letters, digits or hyphens)', 10);
  const style = choice(raw, 'deployment_style', ['in_place', 'blue_green'] as const, 'in_place');
  const superseded = set ? 'ec2_tag_set' : autoScalingGroups.length > 0 ? 'auto_scaling_groups' : undefined;
  if (!simple && !superseded) {
    throw new ConfigError('cdk.json context "ec2_tag_key" is missing: set it to the EC2 tag key that marks the instances (with "ec2_tag_value"), or set "ec2_tag_set" or "auto_scaling_groups"');
  }
  if (simple && superseded) {
    warnings.push(
      `cdk.json context "${superseded}" supersedes "ec2_tag_key"/"ec2_tag_value" for the deployment group ${where.deploymentGroupName}: it deploys to ${set ? 'the instances of the tag set' : 'the Auto Scaling groups'}${set && autoScalingGroups.length ? ' and of the Auto Scaling groups' : ''} only.${where.prod ? ' "ec2_tag_key" stays the key of "prod_ec2_tag_value".' : ' Remove "ec2_tag_key"/"ec2_tag_value" to silence this warning.'}`,
    );
  }
  if (simple?.sample && !superseded) notes.push(sampleNote(simple.tag.value));
  const tags = set ?? (superseded || !simple ? [] : [[simple.tag]]);

  const processes = names(raw, 'suspend_asg_processes', /^.+$/, `Auto Scaling processes (${ASG_PROCESSES.join(', ')})`, ASG_PROCESSES.length);
  const unknownProcess = processes.find((p) => !(ASG_PROCESSES as readonly string[]).includes(p));
  if (unknownProcess !== undefined) {
    throw new ConfigError(
      `cdk.json context "suspend_asg_processes" has "${unknownProcess}": CodeDeploy suspends only ${ASG_PROCESSES.join(', ')} (case-sensitive; InvalidAutoScalingGroupProcessToSuspendException otherwise)`,
    );
  }
  if (processes.length > 0 && autoScalingGroups.length === 0) {
    throw new ConfigError('cdk.json context "suspend_asg_processes" is set, but "auto_scaling_groups" is not: CodeDeploy suspends processes of the deployment group\'s Auto Scaling groups only');
  }

  let blueGreen: BlueGreen | undefined;
  if (style === 'in_place') {
    for (const key of BLUE_GREEN_KEYS) {
      if (isSet(raw, key)) throw new ConfigError(`cdk.json context "${key}" is set, but "deployment_style" is not blue_green`);
    }
  } else {
    if (targetGroups.length === 0) {
      throw new ConfigError('cdk.json context "deployment_style" is blue_green, but "target_groups" is not set: a blue/green deployment moves traffic to the replacement fleet through the target groups (ALB or NLB) of "target_groups"');
    }
    if (processes.length > 0) {
      throw new ConfigError('cdk.json context "suspend_asg_processes" is set with "deployment_style" blue_green: CodeDeploy suspends Auto Scaling processes for in-place deployments only');
    }
    const greenFleet = choice(raw, 'green_fleet', ['copy_auto_scaling_group', 'discover_existing'] as const, 'copy_auto_scaling_group');
    const greenFleetTags = names(raw, 'green_fleet_tags', /^[^=]{1,128}=.{1,256}$/, '"Key=Value" tags of the replacement instances', 10).map((t) => tag(t)!);
    if (greenFleet === 'copy_auto_scaling_group') {
      if (autoScalingGroups.length !== 1) {
        throw new ConfigError(
          `cdk.json context "green_fleet" is copy_auto_scaling_group, but "auto_scaling_groups" has ${autoScalingGroups.length} group(s): CodeDeploy copies exactly one Auto Scaling group`,
        );
      }
      if (set) throw new ConfigError('cdk.json context "ec2_tag_set" is set with "green_fleet" copy_auto_scaling_group: the original fleet of a copy is its Auto Scaling group alone');
      if (greenFleetTags.length > 0) throw new ConfigError('cdk.json context "green_fleet_tags" is set, but "green_fleet" is not discover_existing: a copied Auto Scaling group is the replacement fleet');
    } else if (greenFleetTags.length === 0) {
      throw new ConfigError('cdk.json context "green_fleet" is discover_existing, but "green_fleet_tags" is not set: name the tags of the replacement instances, e.g. ["Fleet=green"]');
    }
    const trafficReroute = choice(raw, 'traffic_reroute', ['continue', 'stop'] as const, 'continue');
    if (trafficReroute === 'continue' && isSet(raw, 'traffic_reroute_wait_minutes')) {
      throw new ConfigError('cdk.json context "traffic_reroute_wait_minutes" is set, but "traffic_reroute" is not stop: with continue, traffic moves as soon as the replacement fleet is ready');
    }
    const blueInstances = choice(raw, 'blue_instances', ['terminate', 'keep_alive'] as const, 'terminate');
    if (blueInstances === 'keep_alive' && isSet(raw, 'blue_termination_wait_minutes')) {
      throw new ConfigError('cdk.json context "blue_termination_wait_minutes" is set, but "blue_instances" is keep_alive: the original fleet is not terminated');
    }
    blueGreen = {
      greenFleet,
      greenFleetTags,
      trafficReroute,
      trafficRerouteWaitMinutes: trafficReroute === 'stop' ? integer(raw, 'traffic_reroute_wait_minutes', 60, 1, 2880) : undefined,
      blueInstances,
      blueTerminationWaitMinutes: blueInstances === 'terminate' ? integer(raw, 'blue_termination_wait_minutes', 60, 0, 2880) : undefined,
    };
  }
  return {
    ec2TagKey: simple && (!superseded || where.prod) ? simple.tag.key : undefined,
    // The key of the branch groups' tags (branches), whatever the first group's fleet.
    tagKey: simple?.tag.key,
    fleet: {
      tagSet: tags,
      fromTagSet: set !== undefined,
      autoScalingGroups,
      targetGroups,
      classicLoadBalancers,
      blueGreen,
      suspendAsgProcesses: processes,
    },
  };
}

function github(raw: Raw): PipelineConfig['github'] {
  const keys = ['github_repository', 'codeconnections_arn', 'github_token_secret', 'path_filter'];
  if ((raw('source_provider') ?? 'codecommit') !== 'github') {
    for (const key of keys) {
      if (raw(key) !== undefined && raw(key) !== null && raw(key) !== '') {
        throw new ConfigError(`cdk.json context "${key}" is set, but "source_provider" is not github: set source_provider to github to build from GitHub`);
      }
    }
    return undefined;
  }
  const [owner, repo] = text(raw, 'github_repository', /^[A-Za-z0-9-]{1,39}\/[A-Za-z0-9._-]{1,100}$/, 'the GitHub repository as owner/name').split('/');
  const connectionArn = optional(raw, 'codeconnections_arn', /^arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:\d{12}:connection\/[0-9a-f-]{36}$/, 'a CodeConnections connection ARN');
  const tokenSecret = optional(raw, 'github_token_secret', /^[A-Za-z0-9/_+=.@-]{1,512}$/, 'the name of a Secrets Manager secret holding a GitHub personal access token');
  if (!connectionArn === !tokenSecret) {
    throw new ConfigError(
      'source_provider github needs exactly one of cdk.json context "codeconnections_arn" (a CodeConnections connection, where the build region has CodeConnections) or "github_token_secret" (a Secrets Manager secret holding a personal access token)',
    );
  }
  return { owner, repo, connectionArn, tokenSecret, pathFilter: flag(raw, 'path_filter', false) };
}

function prodGroup(raw: Raw, first: HealthyHosts, ec2TagKey: string | undefined): PipelineConfig['prod'] {
  const name = optional(raw, 'prod_deployment_group_name', NAME, 'a CodeDeploy deployment group name');
  if (!name) {
    for (const key of ['prod_ec2_tag_value', 'prod_min_healthy_hosts_percent', 'approvers']) {
      if (raw(key) !== undefined && raw(key) !== null && raw(key) !== '') {
        throw new ConfigError(`cdk.json context "${key}" is set, but "prod_deployment_group_name" is not: set it to create the second deployment group and the promotion project`);
      }
    }
    return undefined;
  }
  const ec2TagValue = text(raw, 'prod_ec2_tag_value', /^.{1,256}$/, 'the value of the EC2 tag on the second group\'s instances');
  if (!ec2TagKey) {
    throw new ConfigError('cdk.json context "prod_ec2_tag_value" needs "ec2_tag_key": the second group deploys to the instances whose tag "ec2_tag_key" has this value');
  }
  return {
    deploymentGroupName: name,
    ec2TagValue,
    minHealthyHosts: isSet(raw, 'prod_min_healthy_hosts_percent')
      ? { type: 'FLEET_PERCENT', value: integer(raw, 'prod_min_healthy_hosts_percent', 50, 0, 99) }
      : first,
  };
}

/** An alarm name of at most 255 characters (CloudWatch's and CodeDeploy's limit): a longer one
 * keeps its start and ends with a hash of the whole. */
function alarmName(parts: string[]): string {
  const name = parts.join('-');
  if (name.length <= 255) return name;
  return `${name.slice(0, 246)}-${createHash('sha256').update(name).digest('hex').slice(0, 8)}`;
}

/** The default alarms of `fleet` (create_default_alarms), named after the application and what
 * they watch: a pair per target group and per Classic Load Balancer, one alarm per Auto Scaling
 * group. A copied Auto Scaling group (blue/green copy_auto_scaling_group) gets none: CodeDeploy
 * replaces it by its copy, under another name, at every deployment. */
export function defaultAlarms(applicationName: string, fleet: Fleet): DefaultAlarm[] {
  const pair = (type: 'target-group' | 'classic-load-balancer', name: string): DefaultAlarm[] => {
    const short = type === 'target-group' ? 'tg' : 'elb';
    return [
      { name: alarmName([applicationName, short, name, 'unhealthy-hosts']), kind: 'unhealthy-hosts', source: { type, name } },
      { name: alarmName([applicationName, short, name, 'target-5xx']), kind: 'target-5xx', source: { type, name } },
    ];
  };
  const copied = fleet.blueGreen?.greenFleet === 'copy_auto_scaling_group';
  return [
    ...fleet.targetGroups.flatMap((name) => pair('target-group', name)),
    ...fleet.classicLoadBalancers.flatMap((name) => pair('classic-load-balancer', name)),
    ...(copied ? [] : fleet.autoScalingGroups).map(
      (name): DefaultAlarm => ({
        name: alarmName([applicationName, 'asg', name, 'status-check-failed']),
        kind: 'status-check-failed',
        source: { type: 'auto-scaling-group', name },
      }),
    ),
  ];
}

/**
 * alarms and create_default_alarms: the names (1 to 255 characters, none twice: the CloudFormation
 * reference's Alarm, "Maximum length is 255 characters. Each alarm name can be used only once in a
 * list of alarms") and the fleet's default alarms, together at most MAX_GROUP_ALARMS. A fleet with
 * nothing to watch (instances by tag alone) gets no default alarm, said as a note.
 */
function alarmsOf(raw: Raw, applicationName: string, fleet: Fleet, notes: string[]): Alarms {
  const names = alarmNames(raw);
  const defaults = flag(raw, 'create_default_alarms', false) ? defaultAlarms(applicationName, fleet) : [];
  if (flag(raw, 'create_default_alarms', false)) {
    if (defaults.length === 0) {
      notes.push(
        `cdk.json context "create_default_alarms" is true, but the deployment group's fleet has no target group, Classic Load Balancer or Auto Scaling group${fleet.blueGreen?.greenFleet === 'copy_auto_scaling_group' ? ' that keeps its name (a copied Auto Scaling group is replaced at every deployment)' : ''}: no default alarm is made (CloudWatch has no metric of a set of instances chosen by tag). List alarms of your own in "alarms".`,
      );
    }
    const taken = defaults.find((d) => names.includes(d.name));
    if (taken) {
      throw new ConfigError(`cdk.json context "alarms" has "${taken.name}", the name of a default alarm that "create_default_alarms" makes: rename your alarm, or leave it out and keep the default one`);
    }
  }
  const total = names.length + defaults.length;
  if (total > MAX_GROUP_ALARMS) {
    throw new ConfigError(
      `cdk.json context "alarms" (${names.length}) and "create_default_alarms" (${defaults.length}: two per target group and per Classic Load Balancer, one per Auto Scaling group) make ${total} alarms: CodeDeploy takes at most ${MAX_GROUP_ALARMS} in a deployment group's alarm configuration. List fewer in "alarms", or set "create_default_alarms" to false and list the ones you want in "alarms"`,
    );
  }
  return { names, defaults };
}

/** The names of alarms, each 1 to 255 characters (not only spaces), none twice. */
function alarmNames(raw: Raw): string[] {
  return names(raw, 'alarms', /^(?=.*\S).{1,255}$/, 'CloudWatch alarm names of the pipeline region, 1 to 255 characters each', MAX_GROUP_ALARMS);
}

/** The keys of a branch environment given as an object (branches). */
const BRANCH_GROUP_KEYS = ['deployment_group_name', 'ec2_tag_value', 'ec2_tag_set', 'auto_scaling_groups'] as const;
/** At most this many patterns: every mapped group is a resource ARN in the deploy and rollback
 * roles' policies, which IAM caps in size (10,240 characters of inline policy per role). */
const MAX_BRANCH_PATTERNS = 20;

/** A branch pattern: an exact branch name, or a prefix ending in one `*` (no other wildcard: the
 * build matches exact names and prefixes only, and so does EventBridge's `prefix`). Not `;` or
 * `=`, which separate the entries of BRANCH_GROUPS. */
function branchPattern(pattern: string): { pattern: string; prefix?: string } {
  const fail = (why: string) =>
    new ConfigError(`cdk.json context "branches" has the pattern ${JSON.stringify(pattern)}: ${why}`);
  const body = pattern.endsWith('*') ? pattern.slice(0, -1) : pattern;
  if (body.length === 0) throw fail('a prefix needs at least one character before its "*" (a pattern of every branch would leave none to validate)');
  if (/[*?[\]]/.test(body)) {
    throw fail('a pattern is an exact branch name or a prefix ending in one "*", e.g. "release/*": no other wildcard (the build and EventBridge\'s prefix match must agree)');
  }
  if (/[;=]/.test(body)) throw fail('";" and "=" separate the entries of the build\'s BRANCH_GROUPS: rename the branch');
  if (!/^[^\s~^:\\]+$/.test(body) || body.includes('..') || body.includes('@{') || body.startsWith('/') || body.startsWith('-')) {
    throw fail('expected a git branch name (no spaces, "~", "^", ":", "\\\\", "..", "@{"), optionally ending in "*"');
  }
  return pattern.endsWith('*') ? { pattern, prefix: body } : { pattern };
}

/** The name of the group a branch maps to (branches): the value, or its deployment_group_name. */
function branchGroupName(key: string, value: unknown): string {
  const fail = (why: string) => new ConfigError(`cdk.json context "${key}" ${why}`);
  const what = 'a CodeDeploy deployment group name (1 to 100 letters, digits, ".", "_" or "-")';
  if (typeof value === 'string') {
    if (!NAME.test(value)) throw fail(`is ${JSON.stringify(value)}: expected ${what}, or an object of ${BRANCH_GROUP_KEYS.join(', ')}`);
    return value;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw fail(`is ${JSON.stringify(value)}: expected a deployment group name, or an object of ${BRANCH_GROUP_KEYS.join(', ')}`);
  }
  for (const k of Object.keys(value)) {
    if (!(BRANCH_GROUP_KEYS as readonly string[]).includes(k)) throw fail(`has "${k}": expected ${BRANCH_GROUP_KEYS.join(', ')}`);
  }
  const name = (value as Record<string, unknown>).deployment_group_name;
  if (typeof name !== 'string' || !NAME.test(name)) throw fail(`has "deployment_group_name" ${JSON.stringify(name)}: expected ${what}`);
  return name;
}

/** The instances of a branch's group `name`: its ec2_tag_set, its ec2_tag_value or its name as the
 * value of the `tagKey` tag (ec2_tag_key, as prod_ec2_tag_value), and its auto_scaling_groups. */
function branchGroup(key: string, name: string, value: unknown, tagKey: string | undefined): BranchGroup {
  const fail = (why: string) => new ConfigError(`cdk.json context "${key}" ${why}`);
  const object = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  const given = (k: string) => object[k] !== undefined && object[k] !== null && object[k] !== '';
  const byTag = (tagValue: unknown, how: string): Tag[][] => {
    if (typeof tagValue !== 'string' || tagValue.length > 256) throw fail(`has "ec2_tag_value" ${JSON.stringify(tagValue)}: expected an EC2 tag value (1 to 256 characters)`);
    if (!tagKey) {
      throw fail(
        `${how}, but "ec2_tag_key" is not set, whose tag would choose its instances: set "ec2_tag_key", or give the group "ec2_tag_set" or "auto_scaling_groups", e.g. {"deployment_group_name": "${name}", "ec2_tag_set": [["Env=dev"]]}`,
      );
    }
    return [[{ key: tagKey, value: tagValue }]];
  };
  if (given('ec2_tag_value') && given('ec2_tag_set')) throw fail('has both "ec2_tag_value" and "ec2_tag_set": keep one');
  const autoScalingGroups = given('auto_scaling_groups')
    ? nameList(object.auto_scaling_groups, `${key}.auto_scaling_groups`, ASG_NAME, 'Auto Scaling group names (not ARNs)', 100)
    : [];
  const tagSet = given('ec2_tag_set')
    ? tagSetOf(object.ec2_tag_set, `${key}.ec2_tag_set`)
    : given('ec2_tag_value')
      ? byTag(object.ec2_tag_value, 'has "ec2_tag_value"')
      : autoScalingGroups.length > 0
        ? []
        : byTag(name, `names the group "${name}" alone`);
  return { deploymentGroupName: name, tagSet, autoScalingGroups };
}

/**
 * branches: a map of branch patterns to deployment groups. A group named as the first group
 * (deploymentGroupName) is that group, not a new one; the promotion target (prod) is never mapped:
 * production goes through the approvers. The same group may serve several patterns, with the same
 * instances. A mapping of the deployment branch itself is said as a note: its pushes and release
 * changes no longer reach the first group.
 */
function branchesOf(
  raw: Raw,
  where: { branch: string; deploymentGroupName: string; prodName?: string; tagKey?: string },
  notes: string[],
): Branches {
  if (!isSet(raw, 'branches')) return { mappings: [], groups: [] };
  const value = structured(raw, 'branches', '{');
  if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.keys(value).length === 0) {
    throw new ConfigError(
      `cdk.json context "branches" is ${JSON.stringify(value)}: expected an object of branch patterns and deployment groups, e.g. {"develop": "web-dev", "release/*": "web-staging"}`,
    );
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > MAX_BRANCH_PATTERNS) {
    throw new ConfigError(`cdk.json context "branches" has ${entries.length} patterns: at most ${MAX_BRANCH_PATTERNS} (every mapped group is named in the deploy and rollback roles' policies, which IAM caps in size)`);
  }
  const groups = new Map<string, { group: BranchGroup; pattern: string }>();
  const mappings = entries.map(([text, target]): BranchMapping => {
    const { pattern, prefix } = branchPattern(text);
    const key = `branches.${pattern}`;
    const name = branchGroupName(key, target);
    if (name === where.prodName) {
      throw new ConfigError(
        `cdk.json context "${key}" is the promotion target "${name}" (prod_deployment_group_name): production is never deployed by a push; it goes through the promotion project, which only the approvers may start`,
      );
    }
    if (pattern === where.branch && name !== where.deploymentGroupName) {
      notes.push(
        `cdk.json context "${key}" maps the deployment branch to "${name}": its pushes and release changes deploy there, not to the first group "${where.deploymentGroupName}" (which the promotion project promotes from).`,
      );
    }
    if (name === where.deploymentGroupName) {
      if (typeof target === 'object' && target !== null && Object.keys(target).some((k) => k !== 'deployment_group_name')) {
        throw new ConfigError(
          `cdk.json context "${key}" names the first group "${name}" (deploymentGroupName) with instances of its own: that group keeps its own fleet; give only its name, or another deployment_group_name`,
        );
      }
      return { pattern, prefix, group: name };
    }
    const group = branchGroup(key, name, target, where.tagKey);
    const earlier = groups.get(name);
    if (earlier && JSON.stringify(earlier.group) !== JSON.stringify(group)) {
      throw new ConfigError(
        `cdk.json context "branches" maps "${earlier.pattern}" and "${pattern}" to the group "${name}" with different instances: give both the same, or name two groups`,
      );
    }
    if (!earlier) groups.set(name, { group, pattern });
    return { pattern, prefix, group: name };
  });
  return { mappings, groups: [...groups.values()].map((g) => g.group) };
}

/** BRANCH_GROUPS as the build reads it: `PATTERN=GROUP;…`, the deployment branch and the first
 * group first unless that branch is mapped by name. */
export function branchGroupsEnv(config: Pick<PipelineConfig, 'branch' | 'deploymentGroupName' | 'branches'>): string {
  const mapped = config.branches.mappings.some((m) => m.prefix === undefined && m.pattern === config.branch);
  const entries = [...(mapped ? [] : [{ pattern: config.branch, group: config.deploymentGroupName }]), ...config.branches.mappings];
  return entries.map((m) => `${m.pattern}=${m.group}`).join(';');
}
