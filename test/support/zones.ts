/**
 * Time zones where tenant-local day arithmetic goes wrong if it can: daylight saving time,
 * a half-hour offset, a half-hour DST shift, a clock change at midnight, and UTC as the control.
 */
export const AWKWARD_ZONES = [
  'Europe/Prague',
  'Asia/Kolkata',
  'Australia/Lord_Howe',
  // fell back across midnight (00:01 → 23:01) until 2011: the local date repeats
  'America/St_Johns',
  // midnight does not exist on the spring change and happens twice on the autumn one
  'America/Havana',
  'UTC',
];
