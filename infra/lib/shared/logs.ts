/** Where logs go: the KMS key policy that lets CloudWatch Logs use a key, and the bucket of S3
 * server access logs. */
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { skipCheckov } from './nag.js';

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
  skipCheckov(bucket, {
    CKV_AWS_18:
      'This is the access-log bucket itself: S3 server access logging into itself would log its own deliveries without end, and into another bucket only moves the question.',
    CKV_AWS_21:
      'S3 log delivery writes each log object once under a new key and never overwrites one: versioning would keep nothing more, and would leave every expired log behind as a noncurrent version.',
  });
  return bucket;
}
