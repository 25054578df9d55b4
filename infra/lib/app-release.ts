/**
 * The application release the pipeline deploys: the bucket that holds release archives
 * (created, or an existing one imported by name) and the SSM parameter naming the current one.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';

export interface AppReleaseProps {
  readonly parameterName: string;
  /** An existing bucket; created when absent. */
  readonly bucketName?: string;
  readonly accessLogs: s3.IBucket;
}

export class AppRelease extends Construct {
  readonly bucket: s3.IBucket;
  readonly parameter: ssm.StringParameter;

  constructor(scope: Construct, id: string, props: AppReleaseProps) {
    super(scope, id);
    this.bucket = props.bucketName
      ? s3.Bucket.fromBucketName(this, 'Releases', props.bucketName)
      : new s3.Bucket(this, 'Releases', {
          encryption: s3.BucketEncryption.S3_MANAGED,
          enforceSSL: true,
          blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
          objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
          versioned: true,
          serverAccessLogsBucket: props.accessLogs,
          serverAccessLogsPrefix: 'releases/',
          removalPolicy: RemovalPolicy.RETAIN,
        });
    this.parameter = new ssm.StringParameter(this, 'Archive', {
      parameterName: props.parameterName,
      description: 'invisible-pipeline: s3:// location of the application archive to deploy; changing it deploys it',
      stringValue: `s3://${this.bucket.bucketName}/releases/app.tar.gz`,
    });
  }
}
