/**
 * The CodeCommit repository of the CodeDeploy files, and, for a pipeline region without
 * CodeCommit, a stack in a neighbouring region that holds the repository and forwards its
 * push events to the pipeline region's default event bus.
 */
import { Duration, RemovalPolicy, Stack, StackProps, Validations } from 'aws-cdk-lib';
import * as codecommit from 'aws-cdk-lib/aws-codecommit';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { PipelineConfig } from './config.js';
import { alarmTopic, lostTriggerAlarm } from './notifications.js';

/** Creates the repository, or imports it by name. */
export function repository(scope: Construct, config: PipelineConfig): codecommit.IRepository {
  if (config.repoExists) return codecommit.Repository.fromRepositoryName(scope, 'Repository', config.repoName);
  const repo = new codecommit.Repository(scope, 'Repository', {
    repositoryName: config.repoName,
    description: 'CodeDeploy files (appspec.yml, lifecycle hook scripts) deployed by invisible-pipeline',
  });
  // The team's history outlives the stack: deleting or replacing the stack keeps it.
  repo.applyRemovalPolicy(RemovalPolicy.RETAIN);
  return repo;
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
  return queue;
}

export interface SourceStackProps extends StackProps {
  readonly config: PipelineConfig;
}

/** The repository in `source_region`, forwarding its events to the build's region. */
export class SourceStack extends Stack {
  readonly repository: codecommit.IRepository;

  constructor(scope: Construct, id: string, props: SourceStackProps) {
    super(scope, id, props);
    const { config } = props;
    const buildRegion = config.buildRegion ?? config.region;
    this.repository = repository(this, config);
    const bus = events.EventBus.fromEventBusArn(
      this,
      'PipelineBus',
      `arn:${this.partition}:events:${buildRegion}:${config.account}:event-bus/default`,
    );
    const dlq = deadLetterQueue(this, 'ForwardDeadLetters');
    // An alarm notifies only topics of its own region: this region has its own topic.
    const { topic } = alarmTopic(this, 'Topic', config.notificationEmail);
    lostTriggerAlarm(this, 'ForwardLost', dlq, topic);
    new events.Rule(this, 'ForwardToPipelineRegion', {
      description: `Forwards ${config.repoName} events to the pipeline's build in ${buildRegion}`,
      eventPattern: {
        source: ['aws.codecommit'],
        detailType: ['CodeCommit Repository State Change'],
        resources: [this.repository.repositoryArn],
      },
      targets: [new targets.EventBus(bus, { deadLetterQueue: dlq })],
    });
  }
}
