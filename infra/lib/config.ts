/**
 * The app's configuration: cdk.json context (as in the original sample, plus the keys the
 * original lacked), read once into a typed, validated object. A missing or malformed key
 * fails synth with a message naming it.
 */
import type { Node } from 'constructs';
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
  readonly ec2TagKey: string;
  readonly ec2TagValue: string;
  readonly minHealthyHostsPercent: number;
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
  /** A second deployment group (e.g. production) that the promotion project deploys to. */
  readonly prod?: {
    readonly deploymentGroupName: string;
    readonly ec2TagValue: string;
    readonly minHealthyHostsPercent: number;
  };
  /** IAM roles and groups (ARNs) that may start the promotion project: the approval. */
  readonly approvers: string[];
  /** IAM roles and groups (ARNs) that may start the rollback project. */
  readonly operators: string[];
  /** What synth says about how the configuration was read (e.g. the original sample's tag). */
  readonly notes: string[];
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
  const minHealthyHostsPercent = integer(raw, 'min_healthy_hosts_percent', 50, 0, 99);
  const configName = optional(raw, 'configName', /^[A-Za-z0-9._-]{1,70}$/, 'a CodeDeploy deployment configuration name of at most 70 characters (a suffix with the percentage is added)');
  if (configName) {
    notes.push(
      `cdk.json context "configName" is "${configName}": the deployment configuration is named "${configName}-min-healthy-${minHealthyHostsPercent}". CloudFormation replaces a deployment configuration on any change, and a replacement under the same name would fail: the percentage in the name makes a new floor a new configuration.`,
    );
  }
  return {
    account: text(raw, 'pipeline_account', /^\d{12}$/, 'a 12-digit AWS account id'),
    region: pipelineRegion,
    buildRegion: buildRegion === pipelineRegion ? undefined : buildRegion,
    // The repository's region matters for CodeCommit only.
    sourceRegion: gh || sourceRegion === buildRegion ? undefined : sourceRegion,
    repoName: text(raw, 'repo_name', NAME, 'a CodeCommit repository name'),
    sourceProvider: text(raw, 'source_provider', /^(codecommit|github)$/, 'codecommit or github', 'codecommit') as 'codecommit' | 'github',
    github: gh,
    repoExists: flag(raw, 'repo_exists', false),
    branch: text(raw, 'branch', /^[^\s~^:?*[\\]+$/, 'a branch name', 'main'),
    ...instanceTag(raw, notes),
    minHealthyHostsPercent,
    codedeployAgent: oneOf(raw, 'codedeploy_agent', CODEDEPLOY_AGENT_MAJORS, DEFAULT_CODEDEPLOY_AGENT, "the CodeDeploy agent's major version"),
    configName,
    deploymentGroupName: text(raw, 'deploymentGroupName', NAME, 'a CodeDeploy deployment group name'),
    applicationName: text(raw, 'applicationName', NAME, 'a CodeDeploy application name'),
    projectName: text(raw, 'projectName', /^[A-Za-z0-9][A-Za-z0-9_-]{1,254}$/, 'a CodeBuild project name'),
    appArchiveParameter: text(raw, 'app_archive_parameter', /^\/?[A-Za-z0-9_.\-/]{1,1000}$/, 'an SSM parameter name such as /app/release', '/invisible-pipeline/app-archive'),
    appBucketName: optional(raw, 'app_bucket_name', /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name'),
    notificationEmail: optional(raw, 'notification_email', /^[^@\s]+@[^@\s]+\.[^@\s]+$/, 'an email address'),
    ifBusy,
    waitTimeoutMinutes: integer(raw, 'wait_timeout_minutes', 60, 5, 240),
    prod: prodGroup(raw),
    approvers: principals(raw, 'approvers'),
    operators: principals(raw, 'operators'),
    notes,
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
 * The tag that marks the instances. The original sample has `ec2_tag_key` only and uses its
 * value as the value of the tag `Name`: without `ec2_tag_value` that is what it means here too.
 */
function instanceTag(raw: Raw, notes: string[]): { ec2TagKey: string; ec2TagValue: string } {
  const key = text(raw, 'ec2_tag_key', /^.{1,256}$/, 'the EC2 tag key that marks the instances');
  const value = optional(raw, 'ec2_tag_value', /^.{1,256}$/, 'the value of that tag on the instances');
  if (value !== undefined) {
    if (key.length > 128) throw new ConfigError(`cdk.json context "ec2_tag_key" is ${key.length} characters long: an EC2 tag key has at most 128`);
    return { ec2TagKey: key, ec2TagValue: value };
  }
  notes.push(
    `cdk.json context "ec2_tag_key" is set without "ec2_tag_value": as in the original sample, the deployment group targets the instances whose tag Name is "${key}". To target another tag, set "ec2_tag_key" to its key and "ec2_tag_value" to its value.`,
  );
  return { ec2TagKey: 'Name', ec2TagValue: key };
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

function prodGroup(raw: Raw): PipelineConfig['prod'] {
  const name = optional(raw, 'prod_deployment_group_name', NAME, 'a CodeDeploy deployment group name');
  if (!name) {
    for (const key of ['prod_ec2_tag_value', 'prod_min_healthy_hosts_percent', 'approvers']) {
      if (raw(key) !== undefined && raw(key) !== null && raw(key) !== '') {
        throw new ConfigError(`cdk.json context "${key}" is set, but "prod_deployment_group_name" is not: set it to create the second deployment group and the promotion project`);
      }
    }
    return undefined;
  }
  return {
    deploymentGroupName: name,
    ec2TagValue: text(raw, 'prod_ec2_tag_value', /^.{1,256}$/, 'the value of the EC2 tag on the second group\'s instances'),
    minHealthyHostsPercent: integer(raw, 'prod_min_healthy_hosts_percent', integer(raw, 'min_healthy_hosts_percent', 50, 0, 99), 0, 99),
  };
}
