/**
 * The platform registry, loaded when a command needs it rather than at start: the adapters pull in
 * the AWS SDK and Google's library, a second or more of start-up that `--help` should not pay.
 */
import type { PlatformModule } from '../verify/contract.ts';

export async function loadPlatforms(): Promise<readonly PlatformModule[]> {
  return (await import('../platforms.ts')).PLATFORMS;
}
