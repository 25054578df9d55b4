/** Types of the target group lookup handler (index.js, CommonJS for the Lambda runtime), for the tests. */
export interface ElasticLoadBalancingApi {
  describe(input: { Names: string[] }): Promise<{
    TargetGroups?: { TargetGroupName?: string; TargetGroupArn?: string; LoadBalancerArns?: string[] }[];
  }>;
}

export interface CustomResourceEvent {
  RequestType: 'Create' | 'Update' | 'Delete';
  PhysicalResourceId?: string;
  ResourceProperties?: { TargetGroups?: string[] };
}

export interface CustomResourceResult {
  PhysicalResourceId: string;
  Data?: Record<string, string>;
}

export function onEvent(event: CustomResourceEvent, api: ElasticLoadBalancingApi): Promise<CustomResourceResult>;
export function handler(event: CustomResourceEvent): Promise<CustomResourceResult>;
