/**
 * The invisible pipeline: in the instances' region the artifact store, the deployment target
 * and the notifications, with the build side (release parameter, build step, triggers) there
 * too, or in a region of its own (`build_region`) for the regions without CodeBuild.
 */
import { CfnOutput, Stack, StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { PipelineConfig } from '../config.js';
import { ArtifactStore } from '../constructs/artifact-store.js';
import { DeploymentAlarms } from '../constructs/deployment-alarms.js';
import { DeploymentTarget } from '../constructs/deployment-target.js';
import { Notifications } from '../constructs/notifications.js';
import { fixedNames, notificationNames } from '../shared/fixed-names.js';
import { addBuildSide, buildNotices, type BuildSide } from './build-side.js';

export interface PipelineStackProps extends StackProps {
  readonly config: PipelineConfig;
  readonly toolDir: string;
  readonly buildspecPath: string;
}

/**
 * The pipeline in the instances' region: artifact store, the alarms that stop a deployment,
 * deployment target, notifications, and (without build_region) the build side too.
 */
export class PipelineStack extends Stack {
  readonly artifacts: ArtifactStore;
  /** The alarms of every group's alarm configuration (alarms, create_default_alarms). */
  readonly alarms: DeploymentAlarms;
  readonly target: DeploymentTarget;
  readonly notifications: Notifications;
  /** The build side, when the build is in this region. */
  readonly side?: BuildSide;

  constructor(scope: Construct, id: string, props: PipelineStackProps) {
    super(scope, id, props);
    const { config } = props;
    this.artifacts = new ArtifactStore(this, 'Artifacts', {
      fixed: config.buildRegion ? fixedNames(config.account, config.region, config.applicationName) : undefined,
    });
    // CodeDeploy reads a group's alarms in the group's region: they are made here.
    this.alarms = new DeploymentAlarms(this, 'Alarms', { config });
    this.target = new DeploymentTarget(this, 'Target', { config, artifacts: this.artifacts, alarms: this.alarms.alarms });
    // The topic comes before the build side, whose projects publish their outcome to it; a build
    // in another region names it by its fixed name (set only then: renaming replaces a topic).
    this.notifications = new Notifications(this, 'Notifications', {
      email: config.notificationEmail,
      fixed: config.buildRegion ? notificationNames(config.applicationName) : undefined,
    });
    if (!config.buildRegion) {
      this.side = addBuildSide(this, {
        config,
        bundles: this.artifacts.bundles(),
        logKey: this.artifacts.key,
        accessLogs: this.artifacts.accessLogs,
        applicationName: this.target.application.applicationName,
        deploymentGroupName: this.target.groupName,
        deploymentConfigName: this.target.deploymentConfig.deploymentConfigName,
        prod: this.target.prod && {
          deploymentGroupName: this.target.prod.group.deploymentGroupName,
          deploymentConfigName: this.target.prod.deploymentConfig.deploymentConfigName,
        },
        notify: this.notifications.notifyTopic,
        toolDir: props.toolDir,
        buildspecPath: props.buildspecPath,
      });
    }
    this.notifications.watch({
      ...(this.side ? buildNotices(config, this.side) : {}),
      application: this.target.application,
    });
    // An alarm notifies only topics of its own region: this stack's.
    this.alarms.notify(this.notifications.topic);
    new CfnOutput(this, 'InstanceProfile', { value: this.target.instanceProfile.instanceProfileName });
    new CfnOutput(this, 'NotificationTopic', { value: this.notifications.topic.topicArn });
    if (config.buildRegion) new CfnOutput(this, 'ArtifactBucket', { value: this.artifacts.bucket.bucketName });
  }
}

