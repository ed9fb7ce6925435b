/** The oidc profiles by name; an entry without one uses the generic mapping. */
import type { Profile } from '../config.ts';
import { genericProfile } from './generic.ts';
import { githubActionsProfile } from './github-actions.ts';
import { kubernetesProfile } from './kubernetes.ts';
import type { OidcProfile } from './profile.ts';
import { spiffeProfile } from './spiffe.ts';

export type { OidcProfile } from './profile.ts';

const PROFILES: Readonly<Record<Profile, OidcProfile>> = {
  kubernetes: kubernetesProfile,
  'github-actions': githubActionsProfile,
  spiffe: spiffeProfile,
};

export function profileOf(profile: Profile | undefined): OidcProfile {
  return profile === undefined ? genericProfile : PROFILES[profile];
}
