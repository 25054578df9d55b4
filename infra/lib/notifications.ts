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
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Construct } from 'constructs';

export interface NotificationsProps {
  readonly project: codebuild.IProject;
  readonly application: codedeploy.IServerApplication;
  readonly email?: string;
  /** Dead-letter queues of the triggers: a message there is a lost trigger, said out loud. */
  readonly deadLetterQueues?: sqs.IQueue[];
}

export class Notifications extends Construct {
  readonly topic: sns.Topic;
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: NotificationsProps) {
    super(scope, id);
    this.key = new kms.Key(this, 'Key', {
      description: 'invisible-pipeline: notifications topic',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // The SnsTopic rule targets below add the key-policy statement for events.amazonaws.com.
    this.topic = new sns.Topic(this, 'Topic', { masterKey: this.key, enforceSSL: true });
    if (props.email) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(props.email));
    }
    new events.Rule(this, 'BuildFailed', {
      description: 'invisible-pipeline build failed or was stopped',
      eventPattern: {
        source: ['aws.codebuild'],
        detailType: ['CodeBuild Build State Change'],
        detail: { 'build-status': ['FAILED', 'STOPPED'], 'project-name': [props.project.projectName] },
      },
      targets: [new targets.SnsTopic(this.topic)],
    });
    (props.deadLetterQueues ?? []).forEach((queue, i) => {
      const alarm = new cloudwatch.Alarm(this, `TriggerLost${i}`, {
        alarmDescription: 'A pipeline trigger could not be delivered to CodeBuild and waits in the dead-letter queue',
        metric: queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      alarm.addAlarmAction(new actions.SnsAction(this.topic));
    });
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
