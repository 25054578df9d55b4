/**
 * Where revision bundles live: a customer-managed KMS key, the bundle bucket encrypted with it
 * (and refusing any other key), and the bucket that receives both buckets' access logs.
 */
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/**
 * The object tag the binary sets (see src/aws/s3.rs): `Pending` at upload, the deployment's
 * final status when it ends, and `Live` on the bundles of the two latest successful
 * deployments of the group (the live one, and the one a rollback goes back to), which no rule
 * here expires.
 */
export const STATUS_TAG = 'invisible-pipeline-status';

export interface ArtifactStoreProps {
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
    // The build's log group is encrypted with this key too.
    const region = Stack.of(this).region;
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchLogs',
        principals: [new iam.ServicePrincipal(`logs.${region}.amazonaws.com`)],
        actions: ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
        resources: ['*'],
        conditions: {
          ArnLike: { 'kms:EncryptionContext:aws:logs:arn': `arn:${Stack.of(this).partition}:logs:${region}:${Stack.of(this).account}:log-group:*` },
        },
      }),
    );

    // S3 server access log delivery cannot write to SSE-KMS buckets: SSE-S3 here.
    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'ExpireLogs', expiration: Duration.days(365) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.accessLogs).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This is the access-log bucket itself; logging it into itself would loop.',
    });

    this.bucket = new s3.Bucket(this, 'Bundles', {
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
        { id: 'ExpireFailed', tagFilters: { [STATUS_TAG]: 'Failed' }, expiration: Duration.days(failedDays) },
        { id: 'ExpireStopped', tagFilters: { [STATUS_TAG]: 'Stopped' }, expiration: Duration.days(failedDays) },
        { id: 'ExpireSucceeded', tagFilters: { [STATUS_TAG]: 'Succeeded' }, expiration: Duration.days(succeededDays) },
        { id: 'ExpirePending', tagFilters: { [STATUS_TAG]: 'Pending' }, expiration: Duration.days(pendingDays) },
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
}
