/** What tells a person: an SNS topic that CloudWatch alarms and EventBridge rules may publish
 * to, the alarm on a dead-letter queue, and the dead-letter queue of event targets. */
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { skipCheckov } from './nag.js';

/**
 * An SNS topic under its own customer-managed key, usable by EventBridge rules (the SnsTopic
 * target adds their key-policy statement) and by this account's CloudWatch alarms (an alarm
 * notifies only topics of its own region, so each region with an alarm has one). The key policy
 * is CDK's default, whose first statement lets the account's IAM policies grant the key: that is
 * how the build roles, in this stack or in a build stack of another region, may publish (their
 * grant is in their own policy). `fixed` names the topic and gives the key an alias, for a build
 * in another region that names them without a cross-region reference (`notificationNames`).
 */
export function alarmTopic(
  scope: Construct,
  id: string,
  email?: string,
  fixed?: { readonly topicName: string; readonly keyAlias: string },
): { topic: sns.Topic; key: kms.Key } {
  const stack = Stack.of(scope);
  const alarms = `arn:${stack.partition}:cloudwatch:${stack.region}:${stack.account}:alarm:*`;
  const key = new kms.Key(scope, `${id}Key`, {
    description: 'invisible-pipeline: notifications topic',
    enableKeyRotation: true,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'CloudWatchAlarms',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'],
      conditions: { ArnLike: { 'aws:SourceArn': alarms } },
    }),
  );
  if (fixed) key.addAlias(fixed.keyAlias);
  const topic = new sns.Topic(scope, id, { masterKey: key, enforceSSL: true, topicName: fixed?.topicName });
  topic.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'CloudWatchAlarms',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [topic.topicArn],
      conditions: { ArnLike: { 'aws:SourceArn': alarms } },
    }),
  );
  if (email) topic.addSubscription(new subscriptions.EmailSubscription(email));
  return { topic, key };
}

/** An alarm to `topic` as soon as a trigger waits in `queue`, a dead-letter queue. */
export function lostTriggerAlarm(scope: Construct, id: string, queue: sqs.IQueue, topic: sns.ITopic): cloudwatch.Alarm {
  const alarm = new cloudwatch.Alarm(scope, id, {
    alarmDescription: 'A pipeline trigger could not be delivered and waits in the dead-letter queue',
    metric: queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) }),
    threshold: 0,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  alarm.addAlarmAction(new actions.SnsAction(topic));
  return alarm;
}

/** A dead-letter queue for event targets: a trigger that cannot be delivered is kept. */
export function deadLetterQueue(scope: Construct, id: string): sqs.Queue {
  const queue = new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  Validations.of(queue).acknowledge({
    id: 'AwsSolutions-SQS3',
    reason: 'This queue is itself the dead-letter queue of EventBridge rule targets.',
  });
  skipCheckov(queue, {
    CKV_AWS_27:
      'Encrypted at rest with SQS-managed keys (SqsManagedSseEnabled: true), which EventBridge can send to without a key policy; checkov 3.3 reads only KmsMasterKeyId for CloudFormation.',
  });
  return queue;
}
