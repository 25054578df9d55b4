/**
 * Where revision bundles live: a customer-managed KMS key, the bundle bucket encrypted with it
 * (and refusing any other key), and the bucket that receives both buckets' access logs.
 */
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nagArn } from './nag.js';

/**
 * The object tag the binary sets (src/aws/s3/objects.rs): `pending` at upload, the deployment's
 * final status when it ends, and `live` on the bundles of the two latest successful
 * deployments of the group (the live one, and the one a rollback goes back to), which no rule
 * here expires. Key and values come from the one data file the binary reads too.
 */
interface StatusTagFile {
  key: string;
  pending: string;
  failed: string;
  stopped: string;
  succeeded: string;
  live: string;
}
const statusTagFile = join(dirname(fileURLToPath(import.meta.url)), '../../src/aws/status-tag.json');
export const statusTag: StatusTagFile = JSON.parse(readFileSync(statusTagFile, 'utf8'));
export const STATUS_TAG = statusTag.key;

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

/** Lets CloudWatch Logs of the key's region use `key` for this account's log groups. */
export function allowLogs(key: kms.Key): void {
  const stack = Stack.of(key);
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'CloudWatchLogs',
      principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
      actions: ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
      resources: ['*'],
      conditions: {
        ArnLike: { 'kms:EncryptionContext:aws:logs:arn': `arn:${stack.partition}:logs:${stack.region}:${stack.account}:log-group:*` },
      },
    }),
  );
}

/** The bucket that receives S3 server access logs (of its own region: delivery stays in the
 * region). Delivery cannot write to SSE-KMS buckets: SSE-S3 here. */
export function accessLogBucket(scope: Construct, id: string): s3.Bucket {
  const bucket = new s3.Bucket(scope, id, {
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    lifecycleRules: [{ id: 'ExpireLogs', expiration: Duration.days(365) }],
    removalPolicy: RemovalPolicy.RETAIN,
  });
  Validations.of(bucket).acknowledge({
    id: 'AwsSolutions-S1',
    reason: 'This is the access-log bucket itself; logging it into itself would loop.',
  });
  return bucket;
}

export interface ArtifactStoreProps {
  /** Fixed bucket name and key alias, for a build in another region (see `fixedNames`). */
  readonly fixed?: { readonly bucketName: string; readonly keyAlias: string };
  /** Key prefix of the bundles (ARTIFACT_PREFIX). */
  readonly prefix?: string;
  /** Days a bundle of a failed or stopped deployment is kept. */
  readonly failedRetentionDays?: number;
  /** Days a bundle of a succeeded deployment is kept (rollbacks redeploy them). */
  readonly succeededRetentionDays?: number;
  /** Days a bundle whose deployment's end was never seen (`--no-wait`, a timeout) is kept. */
  readonly pendingRetentionDays?: number;
}

export class ArtifactStore extends Construct {
  readonly key: kms.Key;
  readonly bucket: s3.Bucket;
  readonly accessLogs: s3.Bucket;
  readonly prefix: string;

  constructor(scope: Construct, id: string, props: ArtifactStoreProps = {}) {
    super(scope, id);
    this.prefix = props.prefix ?? 'bundles';
    const failedDays = props.failedRetentionDays ?? 30;
    const succeededDays = props.succeededRetentionDays ?? 400;
    // Longer than a failure's: a --no-wait deployment may be the live one until a later run
    // retags it Live.
    const pendingDays = props.pendingRetentionDays ?? 90;

    this.key = new kms.Key(this, 'Key', {
      description: 'invisible-pipeline: revision bundles and build logs',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    if (props.fixed) this.key.addAlias(props.fixed.keyAlias);
    // The build's log group is encrypted with this key too.
    allowLogs(this.key);

    this.accessLogs = accessLogBucket(this, 'AccessLogs');

    this.bucket = new s3.Bucket(this, 'Bundles', {
      bucketName: props.fixed?.bucketName,
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'bundles/',
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        { id: 'AbortIncompleteUploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
        { id: 'ExpireFailed', tagFilters: { [STATUS_TAG]: statusTag.failed }, expiration: Duration.days(failedDays) },
        { id: 'ExpireStopped', tagFilters: { [STATUS_TAG]: statusTag.stopped }, expiration: Duration.days(failedDays) },
        { id: 'ExpireSucceeded', tagFilters: { [STATUS_TAG]: statusTag.succeeded }, expiration: Duration.days(succeededDays) },
        { id: 'ExpirePending', tagFilters: { [STATUS_TAG]: statusTag.pending }, expiration: Duration.days(pendingDays) },
        { id: 'ExpireOldVersions', noncurrentVersionExpiration: Duration.days(30) },
        { id: 'ExpireDeleteMarkers', expiredObjectDeleteMarker: true },
      ],
    });
    // Only this key. UploadPart requests carry no encryption header, so "IfExists": a rule that
    // demands the header would break multipart uploads.
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyOtherKmsKeys',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects('*')],
        conditions: { StringNotEqualsIfExists: { 's3:x-amz-server-side-encryption-aws-kms-key-id': this.key.keyArn } },
      }),
    );
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyOtherEncryption',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects('*')],
        conditions: { StringNotEqualsIfExists: { 's3:x-amz-server-side-encryption': 'aws:kms' } },
      }),
    );
  }

  /** ARN pattern of the bundles under the prefix. */
  bundlesArn(): string {
    return this.bucket.arnForObjects(`${this.prefix}/*`);
  }

  /** What a build in the same stack needs of the store. */
  bundles(): Bundles {
    return {
      bucketName: this.bucket.bucketName,
      bucketArn: this.bucket.bucketArn,
      prefix: this.prefix,
      bundlesArn: this.bundlesArn(),
      nagBundlesArn: `${nagArn(this.bucket)}/${this.prefix}/*`,
      key: { arn: this.key.keyArn },
    };
  }
}
