/**
 * What starts a build: a push to the deployment branch (deploy that commit), a change of the
 * release parameter (deploy the branch head with the new release), a push to any other branch
 * (validate only). Every target retries and keeps undeliverable triggers in a dead-letter queue.
 */
import { Duration } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as codecommit from 'aws-cdk-lib/aws-codecommit';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import type { PipelineConfig } from '../config.js';
import { deadLetterQueue } from '../shared/alarms.js';

export interface TriggersProps {
  readonly config: PipelineConfig;
  /** The CodeCommit repository (none with source_provider github). */
  readonly repository?: codecommit.IRepository;
  readonly project: codebuild.IProject;
  /** Runs `validate` only, with a read-only role: the target of pushes to other branches. */
  readonly validateProject: codebuild.IProject;
  readonly parameter: ssm.IStringParameter;
}

export class Triggers extends Construct {
  readonly deadLetters: sqs.Queue;
  /** CodeCommit pushes (GitHub pushes arrive by the projects' webhooks instead). */
  readonly onPush?: events.Rule;
  readonly onRelease: events.Rule;
  readonly onOtherBranch?: events.Rule;

  constructor(scope: Construct, id: string, props: TriggersProps) {
    super(scope, id);
    const { config, repository, project } = props;
    this.deadLetters = deadLetterQueue(this, 'DeadLetters');
    // With the repository in another region the build clones it: the commit (or branch)
    // goes in a variable, the project's only source being the binary.
    const start = (sourceVersion: string, target: codebuild.IProject = project) =>
      new targets.CodeBuildProject(target, {
        event: events.RuleTargetInput.fromObject({
          ...(config.sourceRegion ? {} : { sourceVersion }),
          environmentVariablesOverride: [
            { name: 'PIPELINE_TRIGGER_TIME', value: events.EventField.time, type: 'PLAINTEXT' },
            ...(config.sourceRegion
              ? [{ name: 'INVISIBLE_PIPELINE_SOURCE_VERSION', value: sourceVersion, type: 'PLAINTEXT' }]
              : []),
          ],
        }),
        deadLetterQueue: this.deadLetters,
        retryAttempts: 20,
        maxEventAge: Duration.hours(6),
      });
    const pushes = (referenceName: unknown) => ({
      source: ['aws.codecommit'],
      detailType: ['CodeCommit Repository State Change'],
      resources: repository ? [repository.repositoryArn] : [],
      detail: {
        event: ['referenceCreated', 'referenceUpdated'],
        referenceType: ['branch'],
        referenceName,
      },
    });

    // The pushed commit, not the branch head: a later push must not slip into this build.
    if (repository) {
      this.onPush = new events.Rule(this, 'OnPush', {
        description: `Deploy pushes to ${config.branch} of ${config.repoName}`,
        eventPattern: pushes([config.branch]),
        targets: [start(events.EventField.fromPath('$.detail.commitId'))],
      });
    }
    this.onRelease = new events.Rule(this, 'OnRelease', {
      description: `Deploy a new application release (${props.parameter.parameterName} changed)`,
      eventPattern: {
        source: ['aws.ssm'],
        detailType: ['Parameter Store Change'],
        detail: { name: [props.parameter.parameterName], operation: ['Create', 'Update'] },
      },
      // StartBuild's sourceVersion takes a branch name or a commit id (not refs/heads/…).
      targets: [start(config.branch)],
    });
    if (repository) {
      this.onOtherBranch = new events.Rule(this, 'OnOtherBranch', {
        description: `Validate pushes to branches other than ${config.branch}`,
        eventPattern: pushes([{ 'anything-but': [config.branch] }]),
        targets: [start(events.EventField.fromPath('$.detail.commitId'), props.validateProject)],
      });
    }
  }
}
