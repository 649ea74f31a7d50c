// Dates: shown in the browser's time zone, sent to the API as RFC 3339 instants (UTC).

export const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const dayOnly = new Intl.DateTimeFormat(undefined, { weekday: "short", month: "short", day: "numeric" });
const hourOnly = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });

/** "1 Dec 2026, 10:05" in the browser's zone, from an RFC 3339 instant. */
export function formatInstant(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : dateTime.format(date);
}

/** A bucket's start, as short as its granularity allows. */
export function formatBucket(iso, granularity) {
  return (granularity === "day" ? dayOnly : hourOnly).format(new Date(iso));
}

/**
 * The value of a datetime-local input (a wall-clock time in the browser's zone) as an
 * RFC 3339 instant in UTC; "" for an empty input, null for one that is not a date.
 */
export function inputToInstant(value) {
  if (!value) return "";
  const date = new Date(value); // a date-time without offset is read as local time
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** How tagfeed normalises a tag, closely enough to compare (the server decides). */
export function normaliseTag(raw) {
  return raw.normalize("NFKC").trim().replace(/^#/, "").trim().toLowerCase()
    .normalize("NFKC").replace(/\s+/g, "-");
}
