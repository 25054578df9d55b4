/** The CodeCommit repository of the CodeDeploy files, in the stack that holds it (the pipeline's
 * build side, or the source stack of a region without CodeCommit). */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as codecommit from 'aws-cdk-lib/aws-codecommit';
import type { Construct } from 'constructs';
import type { PipelineConfig } from '../config.js';

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
