import { z } from 'zod';

/** Google's signing keys for ID tokens (https://developers.google.com/identity/openid-connect/openid-connect#validatinganidtoken). */
export const GCP_DEFAULT_JWKS_URL = 'https://www.googleapis.com/oauth2/v3/certs';

/** platforms.gcp: present = Google ID tokens are accepted. */
export const GcpPlatformSchema = z
  .object({
    jwksUrl: z.url().optional().describe(`Google's signing keys; default ${GCP_DEFAULT_JWKS_URL}`),
  })
  .strict()
  .describe('Present = Google ID tokens are accepted');

export type GcpPlatformConfig = z.infer<typeof GcpPlatformSchema>;
