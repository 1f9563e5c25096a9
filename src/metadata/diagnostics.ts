// Observability without dependencies: subscribers (tracing, metrics, audit logs) listen on
// node:diagnostics_channel; publishing costs nothing when nobody does.
import diagnostics_channel from "node:diagnostics_channel";

/**
 * Channel names the metadata stores publish to.
 *
 * - `quarantine`: `{ store, value, affected }` after a quarantine changed at least one record.
 * - `migrate`: `{ store, applied, version }` after a store applied migrations.
 *
 * @example
 * ```ts
 * import diagnostics_channel from "node:diagnostics_channel";
 * import { METADATA_CHANNELS } from "matrix-media-kit/metadata";
 *
 * diagnostics_channel.subscribe(METADATA_CHANNELS.quarantine, (msg) => console.log(msg));
 * ```
 */
export const METADATA_CHANNELS = {
  quarantine: "matrix-media-kit:metadata:quarantine",
  migrate: "matrix-media-kit:metadata:migrate",
} as const;

const quarantineChannel = diagnostics_channel.channel(METADATA_CHANNELS.quarantine);
const migrateChannel = diagnostics_channel.channel(METADATA_CHANNELS.migrate);

export function publishQuarantine(
  store: string,
  value: boolean,
  affected: ReadonlyArray<{ origin: string; mediaId: string; sha256: string }>,
): void {
  if (affected.length > 0 && quarantineChannel.hasSubscribers) {
    quarantineChannel.publish({ store, value, affected });
  }
}

export function publishMigrate(store: string, applied: number[], version: number): void {
  if (applied.length > 0 && migrateChannel.hasSubscribers) {
    migrateChannel.publish({ store, applied, version });
  }
}
