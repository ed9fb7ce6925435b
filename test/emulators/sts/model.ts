/**
 * What the STS emulator knows: accounts (with their outbound identity federation issuer) and the
 * credentials callers sign with. All values are fixed and fake, so the sandbox manifest is stable;
 * none of them is a real AWS account or key.
 */

export interface EmulatedAccount {
  accountId: string;
  /** The <id> of the account issuer (real form: https://<id>.tokens.sts.global.api.aws). */
  issuerId: string;
  /** EnableOutboundWebIdentityFederation was run for this account. */
  outboundFederation: boolean;
  orgId?: string;
  ouPath?: string;
}

export interface EmulatedCredential {
  accessKeyId: string;
  secretAccessKey: string;
  /** Temporary credentials (ASIA…) carry one; it must come with every request. */
  sessionToken?: string;
  /** Unix seconds after which STS answers ExpiredToken. */
  expiresAt?: number;
  /** What GetCallerIdentity reports. */
  arn: string;
  userId: string;
  account: string;
  /** The IAM ARN (with path) that a web identity token names in `sub`. */
  iamArn: string;
  principalTags?: Record<string, string>;
  /** IAM allows sts:GetWebIdentityToken for this principal. */
  allowWebIdentityToken: boolean;
  /** Claim `lambda_source_function_arn`, as for a Lambda execution role. */
  lambdaFunctionArn?: string;
}

/** AWS's documentation account ids; never real ones. */
export const SANDBOX_ACCOUNT = '111122223333';
export const OTHER_ACCOUNT = '444455556666';
export const SANDBOX_ROLE_NAME = 'agent-id-bridge-sandbox-agent';
export const SANDBOX_ROLE_ARN = `arn:aws:iam::${SANDBOX_ACCOUNT}:role/${SANDBOX_ROLE_NAME}`;
export const SANDBOX_SESSION_NAME = 'bedrock-action-group';

export const DEFAULT_ACCOUNTS: EmulatedAccount[] = [
  {
    accountId: SANDBOX_ACCOUNT,
    issuerId: 'a1b2c3d4-e5f6-4a7b-8c9d-emulated0001',
    outboundFederation: true,
    orgId: 'o-emulated01',
    ouPath: 'o-emulated01/r-ab12/ou-ab12-sandbox/',
  },
  { accountId: OTHER_ACCOUNT, issuerId: 'f6e5d4c3-b2a1-4f7e-8d9c-emulated0002', outboundFederation: false },
];

/** Named so tests can pick one; `sandbox` is the one the sandbox manifest hands out. */
export const DEFAULT_CREDENTIALS = {
  /** The Lambda execution role of a Bedrock action group: temporary credentials. */
  sandbox: {
    accessKeyId: 'ASIAEMULATEDSANDBOX1',
    secretAccessKey: 'EmulatedSandboxSecretKey/NotReal/00000000',
    sessionToken: 'IQoJb3JpZ2luX2VjEMULATED//////////SandboxSessionToken+NotARealOne/0000000000000000==',
    arn: `arn:aws:sts::${SANDBOX_ACCOUNT}:assumed-role/${SANDBOX_ROLE_NAME}/${SANDBOX_SESSION_NAME}`,
    userId: `AROAEMULATEDSANDBOX01:${SANDBOX_SESSION_NAME}`,
    account: SANDBOX_ACCOUNT,
    iamArn: SANDBOX_ROLE_ARN,
    principalTags: { team: 'agents', environment: 'sandbox' },
    allowWebIdentityToken: true,
    lambdaFunctionArn: `arn:aws:lambda:us-east-1:${SANDBOX_ACCOUNT}:function:${SANDBOX_SESSION_NAME}`,
  },
  /** A role with a path, assumed under another session name. */
  pathRole: {
    accessKeyId: 'ASIAEMULATEDPATHROLE',
    secretAccessKey: 'EmulatedPathRoleSecretKey/NotReal/0000000',
    sessionToken: 'IQoJb3JpZ2luX2VjEMULATED//////////PathRoleSessionToken+NotARealOne/00000000000000==',
    arn: `arn:aws:sts::${SANDBOX_ACCOUNT}:assumed-role/reporting/i-0abc123def4567890`,
    userId: 'AROAEMULATEDPATHROLE1:i-0abc123def4567890',
    account: SANDBOX_ACCOUNT,
    iamArn: `arn:aws:iam::${SANDBOX_ACCOUNT}:role/service-role/agents/reporting`,
    allowWebIdentityToken: true,
  },
  /** A long-term IAM user key (AKIA…, no session token). */
  user: {
    accessKeyId: 'AKIAEMULATEDUSER0001',
    secretAccessKey: 'EmulatedUserSecretKey/NotReal/000000000000',
    arn: `arn:aws:iam::${SANDBOX_ACCOUNT}:user/ci/deployer`,
    userId: 'AIDAEMULATEDUSER00001',
    account: SANDBOX_ACCOUNT,
    iamArn: `arn:aws:iam::${SANDBOX_ACCOUNT}:user/ci/deployer`,
    allowWebIdentityToken: false,
  },
  /** Temporary credentials that expired at the epoch. */
  expired: {
    accessKeyId: 'ASIAEMULATEDEXPIRED1',
    secretAccessKey: 'EmulatedExpiredSecretKey/NotReal/00000000',
    sessionToken: 'IQoJb3JpZ2luX2VjEMULATED//////////ExpiredSessionToken+NotARealOne/000000000000000==',
    expiresAt: 1,
    arn: `arn:aws:sts::${SANDBOX_ACCOUNT}:assumed-role/${SANDBOX_ROLE_NAME}/expired-session`,
    userId: 'AROAEMULATEDSANDBOX01:expired-session',
    account: SANDBOX_ACCOUNT,
    iamArn: SANDBOX_ROLE_ARN,
    allowWebIdentityToken: true,
  },
  /** A role in an account without outbound identity federation. */
  otherAccount: {
    accessKeyId: 'ASIAEMULATEDOTHERACC',
    secretAccessKey: 'EmulatedOtherAccountSecret/NotReal/000000',
    sessionToken: 'IQoJb3JpZ2luX2VjEMULATED//////////OtherAccountSessionToken+NotARealOne/0000000000==',
    arn: `arn:aws:sts::${OTHER_ACCOUNT}:assumed-role/worker/worker-session`,
    userId: 'AROAEMULATEDOTHERACC1:worker-session',
    account: OTHER_ACCOUNT,
    iamArn: `arn:aws:iam::${OTHER_ACCOUNT}:role/worker`,
    allowWebIdentityToken: true,
  },
} satisfies Record<string, EmulatedCredential>;

export type CredentialName = keyof typeof DEFAULT_CREDENTIALS;
