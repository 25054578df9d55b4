'use strict';
/**
 * invisible-pipeline: an EC2 blue/green deployment group, created, updated and deleted through
 * the CodeDeploy API. CloudFormation's AWS::CodeDeploy::DeploymentGroup supports blue/green
 * deployments on the Lambda compute platform only (its DeploymentStyle property), so the stack
 * manages this one group with this handler (lib/constructs/blue-green-group.ts).
 *
 * The resource's one property, Group, is the group as CreateDeploymentGroup takes it (JSON).
 * The physical id is `<applicationName>/<deploymentGroupName>`:
 * - Create: CreateDeploymentGroup. A group of that name already there is an error that says so
 *   (e.g. the in-place group of the same name, still in the stack until the update's cleanup).
 * - Update: UpdateDeploymentGroup from the old name to the new one (a rename keeps the group, its
 *   deployments and revisions), with every setting given, so that a removed one is removed (no
 *   alarms left: a disabled, empty alarm configuration). A
 *   COPY_AUTO_SCALING_GROUP group's Auto Scaling group is CodeDeploy's after a deployment (it
 *   copies the group, deploys to the copy, moves traffic, and the group follows the copy): while
 *   the configured name is unchanged, the group's current one is kept. Another application is a
 *   new group (the old one goes with the update's cleanup, by its physical id).
 * - Delete: DeleteDeploymentGroup of the physical id; one already gone (renamed, or its
 *   application deleted) is not an error.
 * The service role is new in the same stack: IAM may not yet let CodeDeploy assume it (an
 * InvalidRoleException), so create and update retry that a bounded number of times.
 *
 * Plain CommonJS for the Lambda runtime (its AWS SDK for JavaScript v3); `onEvent` takes the API
 * as an argument, so that the tests run it against a double.
 */

const GONE = new Set(['DeploymentGroupDoesNotExistException', 'ApplicationDoesNotExistException']);
const ROLE_RETRIES = 8;
const ROLE_RETRY_MS = 15000;

/** The CodeDeploy API, with the SDK of the Lambda runtime. */
function sdkApi() {
  const sdk = require('@aws-sdk/client-codedeploy');
  const client = new sdk.CodeDeployClient({});
  return {
    create: (input) => client.send(new sdk.CreateDeploymentGroupCommand(input)),
    update: (input) => client.send(new sdk.UpdateDeploymentGroupCommand(input)),
    get: (input) => client.send(new sdk.GetDeploymentGroupCommand(input)),
    remove: (input) => client.send(new sdk.DeleteDeploymentGroupCommand(input)),
  };
}

/** The group from the resource's properties. */
function groupOf(properties) {
  if (!properties || typeof properties.Group !== 'string') throw new Error('the resource has no Group property');
  return JSON.parse(properties.Group);
}

function physicalId(group) {
  return `${group.applicationName}/${group.deploymentGroupName}`;
}

function copiesAutoScalingGroup(group) {
  const option = group.blueGreenDeploymentConfiguration && group.blueGreenDeploymentConfiguration.greenFleetProvisioningOption;
  return Boolean(option && option.action === 'COPY_AUTO_SCALING_GROUP');
}

function sameList(a, b) {
  return JSON.stringify([...(a || [])].sort()) === JSON.stringify([...(b || [])].sort());
}

/** `call()`, again after InvalidRoleException (a role IAM has not yet propagated). */
async function withRoleRetries(call, sleep) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (e) {
      if (!e || e.name !== 'InvalidRoleException' || attempt >= ROLE_RETRIES) throw e;
      console.log(`InvalidRoleException (attempt ${attempt} of ${ROLE_RETRIES}): the new service role may not have propagated yet; retrying`);
      await sleep(ROLE_RETRY_MS);
    }
  }
}

async function create(group, api, sleep) {
  try {
    await withRoleRetries(() => api.create(group), sleep);
  } catch (e) {
    if (e && e.name === 'DeploymentGroupAlreadyExistsException') {
      throw new Error(
        `deployment group ${group.deploymentGroupName} of application ${group.applicationName} already exists: the stack creates its blue/green group under this name. ` +
          'If it is the in-place group of the same name (a change of deployment_style), deploy once with another deploymentGroupName, or delete the group first (see the README)',
      );
    }
    throw e;
  }
  return { PhysicalResourceId: physicalId(group), Data: { DeploymentGroupName: group.deploymentGroupName } };
}

/** The update of `before` (deployed) to `after` (wanted), as UpdateDeploymentGroup takes it. */
async function updateRequest(before, after, api) {
  const request = {
    ...after,
    currentDeploymentGroupName: before.deploymentGroupName,
    newDeploymentGroupName: after.deploymentGroupName,
  };
  delete request.deploymentGroupName;
  // Lists left out would be left as they are: an emptied one is given empty, and alarms that
  // were removed leave a disabled, empty alarm configuration.
  request.autoScalingGroups = after.autoScalingGroups || [];
  request.ec2TagSet = after.ec2TagSet || { ec2TagSetList: [] };
  request.alarmConfiguration = after.alarmConfiguration || { enabled: false, alarms: [] };
  if (copiesAutoScalingGroup(after) && sameList(before.autoScalingGroups, after.autoScalingGroups)) {
    const current = await api.get({ applicationName: before.applicationName, deploymentGroupName: before.deploymentGroupName });
    const names = ((current.deploymentGroupInfo && current.deploymentGroupInfo.autoScalingGroups) || []).map((g) => g.name).filter(Boolean);
    if (names.length > 0) request.autoScalingGroups = names;
  }
  return request;
}

async function update(before, after, api, sleep) {
  if (before.applicationName !== after.applicationName) return create(after, api, sleep);
  const request = await updateRequest(before, after, api);
  await withRoleRetries(() => api.update(request), sleep);
  return { PhysicalResourceId: physicalId(after), Data: { DeploymentGroupName: after.deploymentGroupName } };
}

async function remove(id, api) {
  const slash = id.indexOf('/');
  if (slash < 1) {
    console.log(`physical id ${id} names no deployment group: nothing to delete`);
    return { PhysicalResourceId: id };
  }
  const [applicationName, deploymentGroupName] = [id.slice(0, slash), id.slice(slash + 1)];
  try {
    const out = await api.remove({ applicationName, deploymentGroupName });
    if (out && out.hooksNotCleanedUp && out.hooksNotCleanedUp.length) {
      console.log(`lifecycle hooks CodeDeploy could not remove: ${JSON.stringify(out.hooksNotCleanedUp)}`);
    }
  } catch (e) {
    if (!e || !GONE.has(e.name)) throw e;
    console.log(`${id}: ${e.name}, nothing to delete`);
  }
  return { PhysicalResourceId: id };
}

/** A CloudFormation custom resource event, against `api` (the CodeDeploy API or a double). */
async function onEvent(event, api, sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))) {
  switch (event.RequestType) {
    case 'Create':
      return create(groupOf(event.ResourceProperties), api, sleep);
    case 'Update':
      return update(groupOf(event.OldResourceProperties), groupOf(event.ResourceProperties), api, sleep);
    case 'Delete':
      return remove(event.PhysicalResourceId, api);
    default:
      throw new Error(`unknown request type ${event.RequestType}`);
  }
}

exports.onEvent = onEvent;
exports.handler = async (event) => onEvent(event, sdkApi());
