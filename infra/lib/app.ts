/** Builds the app's stacks from the configuration: the pipeline in the instances' region, the
 * build in `build_region` when it is another, and the source stack when the repository lives
 * in another region than the build. Every stack is checked against the resource types its
 * region has (lib/regions.ts): a missing one fails synth, naming the context key that fixes it. */
import { Annotations, App, Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildRegionOf, readConfig, type PipelineConfig } from './config.js';
import { refuseMissingTypes } from './regions.js';
import { BuildStack } from './stacks/build-stack.js';
import { PipelineStack } from './stacks/pipeline-stack.js';
import { SourceStack } from './stacks/source-stack.js';

export interface PipelineApp {
  readonly config: PipelineConfig;
  /** The stack of the instances' region. */
  readonly pipeline: PipelineStack;
  /** The build's stack, when `build_region` is another region. */
  readonly build?: BuildStack;
  readonly source?: SourceStack;
}

export interface Paths {
  readonly toolDir: string;
  readonly buildspecPath: string;
}

/** Each template names its region for cfn-lint (Metadata cfn-lint config), so that one
 * cfn-lint call checks every template against its own region. */
function lintIn(stack: Stack): void {
  stack.templateOptions.metadata = {
    ...stack.templateOptions.metadata,
    'cfn-lint': { config: { regions: [stack.region] } },
  };
  refuseMissingTypes(stack);
}

/**
 * The feature flags the stacks are written for, set here rather than left to cdk.json: a
 * cdk.json brought from the original sample, or from `cdk init` of another CDK version, lacks
 * them or has others. Without the first, the CDK refuses the access-log bucket.
 */
const FEATURE_FLAGS: Record<string, unknown> = {
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
  '@aws-cdk/aws-iam:minimizePolicies': true,
};

export function createPipeline(app: App, paths: Paths): PipelineApp {
  for (const [flag, value] of Object.entries(FEATURE_FLAGS)) app.node.setContext(flag, value);
  const config = readConfig(app.node);
  const buildRegion = buildRegionOf(config);
  const source = config.sourceRegion && !config.github
    ? new SourceStack(app, 'InvisiblePipelineSource', {
        env: { account: config.account, region: config.sourceRegion },
        config,
        description: `invisible-pipeline: CodeCommit repository ${config.repoName}, forwarding pushes to ${buildRegion}`,
      })
    : undefined;
  const pipeline = new PipelineStack(app, 'InvisiblePipeline', {
    env: { account: config.account, region: config.region },
    config,
    ...paths,
    description: config.buildRegion
      ? `invisible-pipeline: CodeDeploy, artifact bucket and instances in ${config.region}, built in ${config.buildRegion}`
      : 'invisible-pipeline: CI/CD for EC2 without CodePipeline',
    crossRegionReferences: false,
  });
  for (const note of config.notes) Annotations.of(pipeline).addInfo(note);
  for (const warning of config.warnings) Annotations.of(pipeline).addWarning(warning);
  const build = config.buildRegion
    ? new BuildStack(app, 'InvisiblePipelineBuild', {
        env: { account: config.account, region: config.buildRegion },
        config,
        ...paths,
        description: `invisible-pipeline: the build for instances in ${config.region} (no CodeBuild there)`,
        crossRegionReferences: false,
      })
    : undefined;
  // The build names the pipeline stack's bucket, key and configurations: they come first.
  if (build) build.addStackDependency(pipeline);
  const sourced = build ?? pipeline;
  if (source) sourced.addStackDependency(source);
  for (const stack of [pipeline, build, source]) if (stack) lintIn(stack);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { config, pipeline, build, source };
}
