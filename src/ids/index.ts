/**
 * Unique, time-ordered IDs across many media-repo processes: Snowflake IDs, media IDs,
 * `MACHINE_ID` parsing and machine-ID leases in Redis, and the validators every path
 * component goes through.
 *
 * @module
 */
export { Snowflake, SNOWFLAKE_EPOCH, DEFAULT_SNOWFLAKE_OPTIONS } from "./snowflake.js";
export type { SnowflakeOptions, DeconstructedSnowflake } from "./snowflake.js";
export { parseMachineId, MAX_MACHINE_ID } from "./machine-id.js";
export { createMediaIdGenerator, MEDIA_ID_LENGTH } from "./media-id.js";
export type { MediaIdGenerator, MediaIdGeneratorOptions } from "./media-id.js";
export { leaseMachineId, DEFAULT_LEASE_OPTIONS } from "./lease.js";
export type { LeaseOptions, MachineIdLease } from "./lease.js";
export { isValidMediaId, isValidServerName } from "./validate.js";
export { MediaError } from "../errors.js";
export type { MatrixErrcode, MediaErrorOptions } from "../errors.js";
