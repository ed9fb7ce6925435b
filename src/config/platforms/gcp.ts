import { z } from 'zod';

/** platforms.gcp: present = Google ID tokens are accepted. */
export const GcpPlatformSchema = z
  .object({
    jwksUrl: z.url().optional().describe("Google's signing keys; default https://www.googleapis.com/oauth2/v3/certs"),
  })
  .strict()
  .describe('Present = Google ID tokens are accepted');
