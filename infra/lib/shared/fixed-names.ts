/**
 * The names a build in another region (`build_region`) gives the artifact store, the
 * notification topic and the deployment configurations of the pipeline's region, without a
 * cross-region reference.
 */
import { createHash } from 'node:crypto';
import { floorName, type PipelineConfig } from '../config.js';

/**
 * What the build needs of the artifact store: in the same stack, its resources; from a build
 * in another region (build_region), the same by their fixed names (see `fixedNames`).
 */
export interface Bundles {
  readonly bucketName: string;
  readonly bucketArn: string;
  readonly prefix: string;
  /** ARN pattern of the bundles under the prefix. */
  readonly bundlesArn: string;
  /** How cdk-nag prints `bundlesArn`. */
  readonly nagBundlesArn: string;
  /** The key: its ARN in the same stack; from another region, its alias (the grant names the
   * key by it, and no encryption header is sent: the bucket's default key applies). */
  readonly key: { readonly arn: string } | { readonly alias: string };
}

/**
 * The fixed names of the artifact store of a pipeline whose build is in another region: the
 * build's stack names them without a cross-region reference. The bucket name carries the
 * account, the region and a hash of the application name, so two pipelines never collide.
 */
export function fixedNames(account: string, region: string, applicationName: string): { bucketName: string; keyAlias: string } {
  const hash = createHash('sha256').update(applicationName).digest('hex').slice(0, 8);
  return {
    bucketName: `invisible-pipeline-${account}-${region}-${hash}`,
    keyAlias: `alias/invisible-pipeline/${applicationName}`,
  };
}

/** The bundles of a store in another region, by its fixed names. */
export function remoteBundles(partition: string, account: string, region: string, applicationName: string, prefix = 'bundles'): Bundles {
  const { bucketName, keyAlias } = fixedNames(account, region, applicationName);
  const bucketArn = `arn:${partition}:s3:::${bucketName}`;
  return {
    bucketName,
    bucketArn,
    prefix,
    bundlesArn: `${bucketArn}/${prefix}/*`,
    nagBundlesArn: `arn:<AWS::Partition>:s3:::${bucketName}/${prefix}/*`,
    key: { alias: keyAlias },
  };
}

/**
 * The notification topic the binary publishes a run's outcome to (`NOTIFY_TOPIC_ARN`): in the
 * same stack, its resources; from a build in another region, the pipeline region's topic by its
 * fixed name and its key by its alias (see `notificationNames`).
 */
export interface NotifyTopic {
  readonly topicArn: string;
  /** The topic's region (the binary's SNS client is of this region, taken from the ARN). */
  readonly region: string;
  /** The topic's key: its ARN in the same stack; from another region, its alias (the grant
   * names the key by it, with a `kms:ResourceAliases` condition, as for the bundle key). */
  readonly key: { readonly arn: string } | { readonly alias: string };
}

/**
 * The fixed names of the pipeline region's notification topic and of its key's alias, when the
 * build is in another region and publishes to it (the pipeline stack sets them only then, so
 * that a topic of one region is never renamed, which would replace it). SNS takes letters,
 * digits, `-` and `_` in a topic name, KMS the same and `/` in an alias: a `.` of the
 * application's name becomes `_`, and a hash of the name keeps two applications apart.
 */
export function notificationNames(applicationName: string): { topicName: string; keyAlias: string } {
  const hash = createHash('sha256').update(applicationName).digest('hex').slice(0, 8);
  const safe = applicationName.replace(/[^A-Za-z0-9_-]/g, '_');
  return {
    topicName: `invisible-pipeline-${safe}-${hash}`,
    keyAlias: `alias/invisible-pipeline/${safe}-${hash}/notifications`,
  };
}

/** The notification topic of the pipeline region, from a build in another region, by its fixed names. */
export function remoteNotifyTopic(partition: string, account: string, region: string, applicationName: string): NotifyTopic {
  const { topicName, keyAlias } = notificationNames(applicationName);
  return {
    topicArn: `arn:${partition}:sns:${region}:${account}:${topicName}`,
    region,
    key: { alias: keyAlias },
  };
}

/**
 * The name of a group's deployment configuration when the build is in another region and names
 * it without a cross-region reference: the floor (and a hash of the zonal settings) is part of
 * the name, so that a change of it creates a new configuration (a replacement under the same
 * name would fail). `floor` is `floorName`'s: `min-healthy-50`, `min-hosts-2`, with
 * `-zonal-<hash>` for zonal settings (at most 60 + 9 + 1 + 27 characters: CodeDeploy takes 100).
 */
export function fixedConfigName(applicationName: string, groupName: string, floor: string): string {
  const hash = createHash('sha256').update(`${applicationName}/${groupName}`).digest('hex').slice(0, 8);
  return `${groupName.slice(0, 60)}-${hash}-${floor}`;
}

/**
 * The name of a group's deployment configuration, or undefined for one CloudFormation chooses.
 * CloudFormation replaces a deployment configuration on any change, and a replacement under the
 * same name would fail: a name it is given carries the floor (and the zonal settings' hash), so
 * that a new floor is a new name. The main group's is `<configName>-<floor>` when configName is
 * set (the original sample's key; `<configName>-min-healthy-<percent>` as before for a
 * percentage without zonal settings); a build in another region needs a name it can know
 * without a cross-region reference (`fixedConfigName`).
 */
export function deploymentConfigName(config: PipelineConfig, group: 'main' | 'prod'): string | undefined {
  const [name, hosts] =
    group === 'main' || !config.prod
      ? [config.deploymentGroupName, config.minHealthyHosts]
      : [config.prod.deploymentGroupName, config.prod.minHealthyHosts];
  const floor = floorName(hosts, config.zonal);
  if (group === 'main' && config.configName) return `${config.configName}-${floor}`;
  return config.buildRegion ? fixedConfigName(config.applicationName, name, floor) : undefined;
}
