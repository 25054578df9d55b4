/**
 * Who hears about it: an SNS topic encrypted with a customer-managed key that EventBridge may
 * use (it cannot publish to a topic under the AWS-managed key), an optional email subscription,
 * rules for failed builds and for failed or succeeded deployments, and an alarm for every
 * trigger that lands in a dead-letter queue.
 */
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as codedeploy from 'aws-cdk-lib/aws-codedeploy';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/**
 * An SNS topic under its own customer-managed key, usable by EventBridge rules (the SnsTopic
 * target adds their key-policy statement) and by this account's CloudWatch alarms (an alarm
 * notifies only topics of its own region, so each region with an alarm has one).
 */
export function alarmTopic(scope: Construct, id: string, email?: string): { topic: sns.Topic; key: kms.Key } {
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
  const topic = new sns.Topic(scope, id, { masterKey: key, enforceSSL: true });
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

export interface NotificationsProps {
  /** The build projects whose failures are told (none in the instances' region when the
   * build has a region of its own: events stay in their region). */
  readonly projects?: codebuild.IProject[];
  /** The application whose deployments are told (none in a build region of its own). */
  readonly application?: codedeploy.IServerApplication;
  readonly email?: string;
  /** Projects started by hand (rollback, promotion): each build's end is told with what it
   * did and who started it. */
  readonly manual?: { project: codebuild.IProject; what: string }[];
  /** Dead-letter queues of the triggers: a message there is a lost trigger, said out loud. */
  readonly deadLetterQueues?: sqs.IQueue[];
}

export class Notifications extends Construct {
  readonly topic: sns.Topic;
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: NotificationsProps) {
    super(scope, id);
    // The SnsTopic rule targets below add the key-policy statement for events.amazonaws.com.
    ({ topic: this.topic, key: this.key } = alarmTopic(this, 'Topic', props.email));
    const projects = props.projects ?? [];
    if (projects.length > 0) new events.Rule(this, 'BuildFailed', {
      description: 'invisible-pipeline build failed, was stopped, timed out or faulted',
      eventPattern: {
        source: ['aws.codebuild'],
        detailType: ['CodeBuild Build State Change'],
        detail: {
          'build-status': ['FAILED', 'STOPPED', 'TIMED_OUT', 'FAULT'],
          'project-name': projects.map((p) => p.projectName),
        },
      },
      targets: [new targets.SnsTopic(this.topic)],
    });
    (props.manual ?? []).forEach(({ project, what }, i) => {
      new events.Rule(this, `ManualBuildEnded${i}`, {
        description: `invisible-pipeline ${what}: ended, with who started it`,
        eventPattern: {
          source: ['aws.codebuild'],
          detailType: ['CodeBuild Build State Change'],
          detail: {
            'build-status': ['SUCCEEDED', 'FAILED', 'STOPPED', 'TIMED_OUT', 'FAULT'],
            'project-name': [project.projectName],
          },
        },
        targets: [
          new targets.SnsTopic(this.topic, {
            message: events.RuleTargetInput.fromText(
              `invisible-pipeline ${what}, started by ${events.EventField.fromPath('$.detail.additional-information.initiator')}: ${events.EventField.fromPath('$.detail.build-status')} (build ${events.EventField.fromPath('$.detail.build-id')})`,
            ),
          }),
        ],
      });
    });
    (props.deadLetterQueues ?? []).forEach((queue, i) => lostTriggerAlarm(this, `TriggerLost${i}`, queue, this.topic));
    if (props.application) {
      new events.Rule(this, 'DeploymentEnded', {
        description: 'invisible-pipeline deployment failed or succeeded',
        eventPattern: {
          source: ['aws.codedeploy'],
          detailType: ['CodeDeploy Deployment State-change Notification'],
          detail: { application: [props.application.applicationName], state: ['FAILURE', 'SUCCESS'] },
        },
        targets: [new targets.SnsTopic(this.topic)],
      });
    }
  }
}
