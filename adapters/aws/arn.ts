/**
 * ARN normalisation (docs/platforms/aws.md#what-policy-can-match). Both proof kinds name a role the same way, so one
 * policy rule covers both:
 *
 *   arn:aws:sts::111122223333:assumed-role/Name/session   (GetCallerIdentity)  ┐
 *   arn:aws:iam::111122223333:role/service-role/Name      (web identity `sub`) ┴→ arn:aws:iam::111122223333:role/Name
 *
 * The principal carries no role path: an assumed-role ARN does not include it (only iam:GetRole
 * would tell), and role names are unique within an account whatever their path. The session name
 * is chosen by whoever calls AssumeRole, so it is an attribute, never part of the principal.
 * IAM users keep their ARN as is. Root and federated-user callers are refused.
 */
import type { AwsPartition } from './config.ts';
import { accept, refuse, type Result } from '../../src/verify/contract.ts';

export interface AwsPrincipal {
  /** What policy matches by default: the role ARN without path, or the IAM user ARN. */
  readonly principal: string;
  readonly partition: AwsPartition;
  readonly account: string;
  readonly attributes: Readonly<Record<string, string>>;
}

const ARN = /^arn:(aws|aws-cn|aws-us-gov):(iam|sts)::([0-9]{12}):([\x21-\x7e]{1,1100})$/;
/** IAM role and user names: 1–64 of [A-Za-z0-9+=,.@_-]. */
const NAME = '[A-Za-z0-9+=,.@_-]{1,64}';
/** IAM paths: "/" or "/segments/", printable ASCII, at most 512 characters. */
const PATH = '/(?:[\\x21-\\x2e\\x30-\\x7e]+/)*';
const ASSUMED_ROLE = new RegExp(`^assumed-role/(${NAME})/([A-Za-z0-9+=,.@_-]{1,64})$`);
const ROLE = new RegExp(`^role(${PATH})(${NAME})$`);
const USER = new RegExp(`^user(${PATH})(${NAME})$`);

/** The caller ARN as GetCallerIdentity reports it (assumed-role or IAM user). */
export function principalFromCallerArn(arn: string): Result<AwsPrincipal> {
  const m = ARN.exec(arn);
  if (!m) return refuse('proof_claim', 'STS answered an ARN this bridge does not understand');
  const [, partition, service, account, resource] = m as unknown as [string, AwsPartition, string, string, string];
  const base = { account, partition };
  if (service === 'sts') {
    const a = ASSUMED_ROLE.exec(resource);
    if (!a)
      return refuse(
        'proof_claim',
        `caller type ${resource.split('/')[0]} is not accepted; only assumed roles and IAM users`,
      );
    const [, roleName, sessionName] = a as unknown as [string, string, string];
    return role(partition, account, roleName, { ...base, session_name: sessionName });
  }
  const u = USER.exec(resource);
  if (u && u[1]!.length <= 512) return user(arn, partition, account, u[1]!, u[2]!);
  return refuse(
    'proof_claim',
    `caller type ${resource.split('/')[0]} is not accepted; only assumed roles and IAM users`,
  );
}

/** The `sub` of a GetWebIdentityToken JWT: an IAM role (or user) ARN, possibly with a path. */
export function principalFromIamArn(arn: string): Result<AwsPrincipal> {
  const m = ARN.exec(arn);
  if (!m || m[2] !== 'iam') return refuse('proof_claim', 'sub is not an IAM role or user ARN');
  const [, partition, , account, resource] = m as unknown as [string, AwsPartition, string, string, string];
  const r = ROLE.exec(resource);
  if (r && r[1]!.length <= 512) return role(partition, account, r[2]!, { account, partition, role_path: r[1]! });
  const u = USER.exec(resource);
  if (u && u[1]!.length <= 512) return user(arn, partition, account, u[1]!, u[2]!);
  return refuse('proof_claim', 'sub is not an IAM role or user ARN');
}

function role(
  partition: AwsPartition,
  account: string,
  roleName: string,
  attributes: Record<string, string>,
): Result<AwsPrincipal> {
  return accept({
    principal: `arn:${partition}:iam::${account}:role/${roleName}`,
    partition,
    account,
    attributes: { ...attributes, principal_type: 'role', role_name: roleName },
  });
}

function user(
  arn: string,
  partition: AwsPartition,
  account: string,
  path: string,
  userName: string,
): Result<AwsPrincipal> {
  return accept({
    principal: arn,
    partition,
    account,
    attributes: { account, partition, principal_type: 'user', user_name: userName, user_path: path },
  });
}
