import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The object tag the binary sets (src/aws/s3/objects.rs): `pending` at upload, the deployment's
 * final status when it ends, and `live` on the bundles of the two latest successful
 * deployments of the group (the live one, and the one a rollback goes back to), which no rule
 * here expires. Key and values come from the one data file the binary reads too.
 */
export interface StatusTagFile {
  key: string;
  pending: string;
  failed: string;
  stopped: string;
  succeeded: string;
  live: string;
}
const statusTagFile = join(dirname(fileURLToPath(import.meta.url)), '../../../src/aws/status-tag.json');
export const statusTag: StatusTagFile = JSON.parse(readFileSync(statusTagFile, 'utf8'));
export const STATUS_TAG = statusTag.key;
