// Label values that can never grow without bound: methods from a fixed list, origins capped.

const METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]);

/** An HTTP method label: one of the methods the API uses, else `other`. @internal */
export function methodLabel(method: string): string {
  return METHODS.has(method) ? method : "other";
}

/** A label value for an optional name from a fixed set (route, stage…). @internal */
export function nameLabel(value: unknown, missing = "none"): string {
  return typeof value === "string" && value.length > 0 ? value.slice(0, 64) : missing;
}

/**
 * Keeps at most `max` distinct values (the first seen); any further value is `other`, so a
 * flood of federation peers cannot create a series each.
 * @internal
 */
export function boundedLabel(max: number): (value: string) => string {
  const seen = new Set<string>();
  return (value) => {
    if (seen.has(value)) return value;
    if (seen.size >= max) return "other";
    seen.add(value);
    return value;
  };
}
