/**
 * What starts a build: a push to the deployment branch or to a mapped branch (branches: deploy that
 * commit, to the branch's group), a change of the release parameter (deploy the deployment
 * branch's head with the new release), a push to any other branch (validate only). Every build is
 * told its branch (PIPELINE_BRANCH), from which the binary picks the group (BRANCH_GROUPS, set on
 * the deploy project). Every target retries and keeps undeliverable triggers in a dead-letter queue.
 */
import { Duration } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as codecommit from 'aws-cdk-lib/aws-codecommit';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import type { BranchMapping, PipelineConfig } from '../config.js';
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
    // goes in a variable, the project's only source being the binary. The branch goes in
    // PIPELINE_BRANCH: a push's own (detail.referenceName), the deployment branch for a release.
    const start = (sourceVersion: string, branch: string, target: codebuild.IProject = project) =>
      new targets.CodeBuildProject(target, {
        event: events.RuleTargetInput.fromObject({
          ...(config.sourceRegion ? {} : { sourceVersion }),
          environmentVariablesOverride: [
            { name: 'PIPELINE_TRIGGER_TIME', value: events.EventField.time, type: 'PLAINTEXT' },
            { name: 'PIPELINE_BRANCH', value: branch, type: 'PLAINTEXT' },
            ...(config.sourceRegion
              ? [{ name: 'INVISIBLE_PIPELINE_SOURCE_VERSION', value: sourceVersion, type: 'PLAINTEXT' }]
              : []),
          ],
        }),
        deadLetterQueue: this.deadLetters,
        retryAttempts: 20,
        maxEventAge: Duration.hours(6),
      });
    const pushes = (names: Record<string, unknown>) => ({
      source: ['aws.codecommit'],
      detailType: ['CodeCommit Repository State Change'],
      resources: repository ? [repository.repositoryArn] : [],
      detail: {
        event: ['referenceCreated', 'referenceUpdated'],
        referenceType: ['branch'],
        ...names,
      },
    });
    const mapped = config.branches.mappings;
    const pushed = events.EventField.fromPath('$.detail.referenceName');

    // The pushed commit, not the branch head: a later push must not slip into this build.
    if (repository) {
      this.onPush = new events.Rule(this, 'OnPush', {
        description: brief(`Deploy pushes to ${[config.branch, ...mapped.map((m) => m.pattern)].join(', ')} of ${config.repoName}`),
        eventPattern: pushes({ referenceName: deployedBranches(config.branch, mapped) }),
        targets: [start(events.EventField.fromPath('$.detail.commitId'), pushed)],
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
      targets: [start(config.branch, config.branch)],
    });
    if (repository) {
      this.onOtherBranch = new events.Rule(this, 'OnOtherBranch', {
        description: brief(`Validate pushes to branches other than ${[config.branch, ...mapped.map((m) => m.pattern)].join(', ')}`),
        eventPattern: pushes(otherBranches(config.branch, mapped)),
        targets: [start(events.EventField.fromPath('$.detail.commitId'), pushed, props.validateProject)],
      });
    }
  }
}

/** A rule description within EventBridge's 512 characters. */
function brief(text: string): string {
  return text.length <= 512 ? text : `${text.slice(0, 509)}...`;
}

/** The names of the deployed branches, as an EventBridge pattern of detail.referenceName: each
 * exact name, and each prefix as `{"prefix": …}` (the array is an OR: "Prefix matching",
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html). */
export function deployedBranches(branch: string, mapped: BranchMapping[]): unknown[] {
  const exact = [...new Set([branch, ...mapped.filter((m) => m.prefix === undefined).map((m) => m.pattern)])];
  return [...exact, ...mapped.filter((m) => m.prefix !== undefined).map((m) => ({ prefix: m.prefix }))];
}

/**
 * The other branches, as the detail fields of an EventBridge pattern: a name that is none of the
 * deployed ones and starts with none of their prefixes. Fields of a pattern are ANDed, the values
 * of one field ORed, so each negation needs a field of its own (two anything-but conditions in one
 * field's list would match every name): the exact names go in an anything-but list of detail.referenceName
 * (the EventBridge guide's "Anything-but matching", lists of strings included), the prefixes in an
 * anything-but prefix of detail.referenceFullName (`refs/heads/NAME`, CodeCommit's event:
 * https://docs.aws.amazon.com/codecommit/latest/userguide/monitoring-events.html). One prefix is the
 * guide's single-value form (`{"anything-but": {"prefix": "…"}}`); several are the list form of
 * Event Ruler, the matching library EventBridge runs ("Anything-but prefix list", aws/event-ruler's
 * README), which the CDK's Match.anythingButPrefix emits and its integration test (integ.rule)
 * deploys.
 */
export function otherBranches(branch: string, mapped: BranchMapping[]): Record<string, unknown> {
  const exact = [...new Set([branch, ...mapped.filter((m) => m.prefix === undefined).map((m) => m.pattern)])];
  const prefixes = [...new Set(mapped.flatMap((m) => (m.prefix === undefined ? [] : [`refs/heads/${m.prefix}`])))];
  return {
    referenceName: [{ 'anything-but': exact }],
    ...(prefixes.length > 0 ? { referenceFullName: [{ 'anything-but': { prefix: prefixes.length === 1 ? prefixes[0] : prefixes } }] } : {}),
  };
}
