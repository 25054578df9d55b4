/**
 * For a pipeline region without CodeCommit: the stack in a neighbouring region (`source_region`)
 * that holds the repository of the CodeDeploy files and forwards its push events to the
 * pipeline region's default event bus.
 */
import { Stack, StackProps } from 'aws-cdk-lib';
import * as codecommit from 'aws-cdk-lib/aws-codecommit';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import { Construct } from 'constructs';
import type { PipelineConfig } from '../config.js';
import { alarmTopic, deadLetterQueue, lostTriggerAlarm } from '../shared/alarms.js';
import { repository } from '../shared/repository.js';

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
