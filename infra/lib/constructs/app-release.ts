/**
 * The application release the pipeline deploys: the bucket that holds release archives
 * (created, or an existing one imported by name) and the SSM parameter naming the current one.
 *
 * The parameter belongs to the user, not to the stack: it is created once with a placeholder
 * (PutParameter without Overwrite; "already exists" is success) and never written again by
 * CloudFormation. A stack update that touched an `AWS::SSM::Parameter` would write its initial
 * value back over the user's release (a silent rollback, which also starts a deployment), and
 * deleting the stack would delete it.
 */
import { CfnResource, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { skipCheckov } from '../shared/nag.js';

export interface AppReleaseProps {
  readonly parameterName: string;
  /** An existing bucket; created when absent. */
  readonly bucketName?: string;
  readonly accessLogs: s3.IBucket;
}

export class AppRelease extends Construct {
  readonly bucket: s3.IBucket;
  readonly parameter: ssm.IStringParameter;
  /** The custom resource that creates the parameter once. */
  readonly createParameter: cr.AwsCustomResource;

  constructor(scope: Construct, id: string, props: AppReleaseProps) {
    super(scope, id);
    const stack = Stack.of(this);
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
    const name = props.parameterName.startsWith('/') ? props.parameterName.slice(1) : props.parameterName;
    const parameterArn = `arn:${stack.partition}:ssm:${stack.region}:${stack.account}:parameter/${name}`;
    this.createParameter = new cr.AwsCustomResource(this, 'CreateArchiveParameter', {
      // onCreate only: nothing on update, nothing on delete.
      onCreate: {
        service: 'SSM',
        action: 'putParameter',
        parameters: {
          Name: props.parameterName,
          Type: 'String',
          Value: `s3://${this.bucket.bucketName}/releases/app.tar.gz`,
          Description: 'invisible-pipeline: s3:// location of the application archive to deploy; changing it deploys it',
          Overwrite: false,
        },
        physicalResourceId: cr.PhysicalResourceId.of(`invisible-pipeline-parameter:${props.parameterName}`),
        ignoreErrorCodesMatching: 'ParameterAlreadyExists',
      },
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({ actions: ['ssm:PutParameter'], resources: [parameterArn] }),
      ]),
      installLatestAwsSdk: false,
    });
    this.parameter = ssm.StringParameter.fromStringParameterName(this, 'Archive', props.parameterName);
    this.parameter.node.addDependency(this.createParameter);
    acknowledgeCustomResourceProvider(stack);
  }
}

/** cdk-nag findings of the singleton Lambda behind every AwsCustomResource of a stack. */
function acknowledgeCustomResourceProvider(stack: Stack): void {
  const provider = stack.node.tryFindChild(`AWS${cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace(/-/g, '')}`);
  if (!provider) return;
  // CDK gives the provider function both a GetAtt of its role and an explicit DependsOn on
  // it; cfn-lint flags the redundant DependsOn (W3005). Harmless, and not ours to change.
  const fn = provider.node.defaultChild as CfnResource;
  fn.addMetadata('cfn-lint', { config: { ignore_checks: ['W3005'] } });
  Validations.of(provider).acknowledge(
    {
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason: 'The provider of CDK\'s AwsCustomResource writes its logs with the basic execution role; it runs once, at stack creation, to create the release parameter.',
    },
    {
      id: 'AwsSolutions-L1',
      reason: 'The runtime of CDK\'s AwsCustomResource provider is chosen by aws-cdk-lib and updated with it.',
    },
  );
  skipCheckov(fn, {
    CKV_AWS_115:
      'Runs once per stack operation, invoked by CloudFormation. A reserved concurrency would take from the account\'s unreserved pool, and fails the deployment in accounts at the minimum of 10.',
    CKV_AWS_116:
      'CloudFormation is the only caller and is told of every failure through the response URL (the stack operation fails with the reason); a dead-letter queue would hold nothing a person acts on.',
    CKV_AWS_117:
      'Calls only the SSM API (PutParameter) and reaches no private resource: in a VPC it would need a NAT gateway or an SSM endpoint, for no gain.',
  });
}
