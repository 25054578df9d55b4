/**
 * Who hears about it: an SNS topic encrypted with a customer-managed key that EventBridge may
 * use (it cannot publish to a topic under the AWS-managed key), an optional email subscription,
 * the topic as the binary publishes a run's outcome to it (`NOTIFY_TOPIC_ARN`), and, for what
 * the binary cannot tell, rules for failed builds, for the manual projects' ends and for failed
 * or succeeded deployments, and an alarm for every trigger that lands in a dead-letter queue.
 */
import { Stack } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as codedeploy from 'aws-cdk-lib/aws-codedeploy';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { alarmTopic, lostTriggerAlarm } from '../shared/alarms.js';
import type { NotifyTopic } from '../shared/fixed-names.js';

export interface NotificationsProps {
  readonly email?: string;
  /** A fixed topic name and key alias, for a build in another region that publishes to this
   * topic (see `notificationNames`). */
  readonly fixed?: { readonly topicName: string; readonly keyAlias: string };
}

/** What the rules watch. The topic comes first (the build side's projects publish to it), the
 * rules after the projects they name. */
export interface Watched {
  /** The build projects whose failures are told (none in the instances' region when the
   * build has a region of its own: events stay in their region). */
  readonly projects?: codebuild.IProject[];
  /** The application whose deployments are told (none in a build region of its own). */
  readonly application?: codedeploy.IServerApplication;
  /** Projects started by hand (rollback, promotion): each build's end is told with what it
   * did and who started it. */
  readonly manual?: { project: codebuild.IProject; what: string }[];
  /** Dead-letter queues of the triggers: a message there is a lost trigger, said out loud. */
  readonly deadLetterQueues?: sqs.IQueue[];
}

export class Notifications extends Construct {
  readonly topic: sns.Topic;
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: NotificationsProps = {}) {
    super(scope, id);
    // The SnsTopic rule targets of `watch` add the key-policy statement for events.amazonaws.com.
    ({ topic: this.topic, key: this.key } = alarmTopic(this, 'Topic', props.email, props.fixed));
  }

  /** The topic as the binary publishes to it, from a project of this stack. */
  get notifyTopic(): NotifyTopic {
    return { topicArn: this.topic.topicArn, region: Stack.of(this).region, key: { arn: this.key.keyArn } };
  }

  /**
   * The rules for what the binary cannot tell (it publishes the outcome of every run that
   * reaches its end itself): a build that failed before the binary ran or was killed, the manual
   * projects' ends with who started them, every deployment's end (those nobody followed too),
   * and lost triggers.
   */
  watch(props: Watched): void {
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
