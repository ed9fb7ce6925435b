/**
 * Every attribute name an AWS workload may carry, from the caller's ARN (./arn.ts), GetCallerIdentity
 * (./get-caller-identity.ts) and the web identity token's AWS claims (./web-identity.ts): what a policy
 * rule may match (docs/platforms/aws.md).
 */
const AWS_ATTRIBUTES: ReadonlySet<string> = new Set([
  'account',
  'partition',
  'principal_type',
  'role_name',
  'role_path',
  'session_name',
  'user_name',
  'user_path',
  'unique_id',
  'org_id',
  'ou_path',
  'source_region',
  'lambda_source_function_arn',
]);
/** Principal tags are exposed as `tag:<key>`; IAM tag keys are 1-128 letters, digits, spaces and _.:/=+-@. */
export const AWS_TAG_KEY = /^[\p{L}\p{N} _.:/=+\-@]{1,128}$/u;

export function isAwsAttribute(name: string): boolean {
  return AWS_ATTRIBUTES.has(name) || (name.startsWith('tag:') && AWS_TAG_KEY.test(name.slice('tag:'.length)));
}
