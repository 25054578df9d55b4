/** Builds the app's stacks from the configuration: the pipeline, and the source stack when
 * the repository lives in another region. */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { readConfig, type PipelineConfig } from './config.js';
import { PipelineStack } from './pipeline-stack.js';
import { SourceStack } from './source.js';

export interface PipelineApp {
  readonly config: PipelineConfig;
  readonly pipeline: PipelineStack;
  readonly source?: SourceStack;
}

export interface Paths {
  readonly toolDir: string;
  readonly buildspecPath: string;
}

export function createPipeline(app: App, paths: Paths): PipelineApp {
  const config = readConfig(app.node);
  const env = { account: config.account, region: config.region };
  const source = config.sourceRegion
    ? new SourceStack(app, 'InvisiblePipelineSource', {
        env: { account: config.account, region: config.sourceRegion },
        config,
        description: `invisible-pipeline: CodeCommit repository ${config.repoName}, forwarding pushes to ${config.region}`,
      })
    : undefined;
  const pipeline = new PipelineStack(app, 'InvisiblePipeline', {
    env,
    config,
    ...paths,
    description: 'invisible-pipeline: CI/CD for EC2 without CodePipeline',
    crossRegionReferences: false,
  });
  if (source) pipeline.addStackDependency(source);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { config, pipeline, source };
}
