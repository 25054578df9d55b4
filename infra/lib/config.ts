/**
 * The app's configuration: cdk.json context (as in the original sample, plus the keys the
 * original lacked), read once into a typed, validated object. A missing or malformed key
 * fails synth with a message naming it.
 */
import type { Node } from 'constructs';

export type IfBusy = 'wait' | 'stop-active' | 'fail';

export interface PipelineConfig {
  /** AWS account of the pipeline. */
  readonly account: string;
  /** Region of the pipeline: CodeBuild, CodeDeploy, the buckets, the parameter. */
  readonly region: string;
  /** Region of the CodeCommit repository when the pipeline's region has no CodeCommit. */
  readonly sourceRegion?: string;
  readonly repoName: string;
  /** Import the repository by name instead of creating it. */
  readonly repoExists: boolean;
  readonly branch: string;
  readonly ec2TagKey: string;
  readonly ec2TagValue: string;
  readonly minHealthyHostsPercent: number;
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

const PRINCIPAL = /^arn:aws[a-z-]*:iam::\d{12}:(role|group)\/[\w+=,.@/-]+$/;

/** A list of IAM role or group ARNs: a JSON array, or one string of comma-separated ARNs. */
function principals(raw: Raw, key: string): string[] {
  const value = raw(key);
  if (value === undefined || value === null || value === '') return [];
  const list = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',').map((v) => v.trim()) : [value];
  for (const arn of list) {
    if (typeof arn !== 'string' || !PRINCIPAL.test(arn)) {
      throw new ConfigError(
        `cdk.json context "${key}" has ${JSON.stringify(arn)}: expected IAM role or group ARNs such as arn:aws:iam::123456789012:role/Approver`,
      );
    }
  }
  return list as string[];
}

/** Reads and checks the configuration from a construct's context (usually the App's). */
export function readConfig(node: Node): PipelineConfig {
  const raw: Raw = (key) => node.tryGetContext(key);
  const region = /^[a-z]{2}(-[a-z]+)+-\d$/;
  const ifBusy = text(raw, 'if_busy', /^(wait|stop-active|fail)$/, 'wait, stop-active or fail', 'wait') as IfBusy;
  const sourceRegion = optional(raw, 'source_region', region, 'a region such as ap-southeast-1');
  const pipelineRegion = text(raw, 'pipeline_region', region, 'a region such as ap-southeast-7');
  return {
    account: text(raw, 'pipeline_account', /^\d{12}$/, 'a 12-digit AWS account id'),
    region: pipelineRegion,
    sourceRegion: sourceRegion === pipelineRegion ? undefined : sourceRegion,
    repoName: text(raw, 'repo_name', NAME, 'a CodeCommit repository name'),
    repoExists: flag(raw, 'repo_exists', false),
    branch: text(raw, 'branch', /^[^\s~^:?*[\\]+$/, 'a branch name', 'main'),
    ec2TagKey: text(raw, 'ec2_tag_key', /^.{1,128}$/, 'the EC2 tag key that marks the instances'),
    ec2TagValue: text(raw, 'ec2_tag_value', /^.{1,256}$/, 'the value of that tag on the instances'),
    minHealthyHostsPercent: integer(raw, 'min_healthy_hosts_percent', 50, 0, 99),
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
  };
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
