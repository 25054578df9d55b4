/**
 * Where revision bundles live: a customer-managed KMS key, the bundle bucket encrypted with it
 * (and refusing any other key), and the bucket that receives both buckets' access logs.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { Bundles } from '../shared/fixed-names.js';
import { accessLogBucket, allowLogs } from '../shared/logs.js';
import { nagArn } from '../shared/nag.js';
import { STATUS_TAG, statusTag } from '../shared/status-tag.js';


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
