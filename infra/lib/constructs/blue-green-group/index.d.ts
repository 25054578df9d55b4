/** Types of the blue/green group handler (index.js, CommonJS for the Lambda runtime), for the tests. */
export interface CodeDeployApi {
  create(input: Record<string, unknown>): Promise<unknown>;
  update(input: Record<string, unknown>): Promise<unknown>;
  get(input: Record<string, unknown>): Promise<{ deploymentGroupInfo?: { autoScalingGroups?: { name?: string }[] } }>;
  remove(input: Record<string, unknown>): Promise<{ hooksNotCleanedUp?: unknown[] } | undefined>;
}

export interface CustomResourceEvent {
  RequestType: 'Create' | 'Update' | 'Delete';
  PhysicalResourceId?: string;
  ResourceProperties?: { Group?: string };
  OldResourceProperties?: { Group?: string };
}

export interface CustomResourceResult {
  PhysicalResourceId: string;
  Data?: { DeploymentGroupName: string };
}

export function onEvent(event: CustomResourceEvent, api: CodeDeployApi, sleep?: (ms: number) => Promise<void>): Promise<CustomResourceResult>;
export function handler(event: CustomResourceEvent): Promise<CustomResourceResult>;
