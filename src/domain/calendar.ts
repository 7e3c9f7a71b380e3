import { IANAZone } from 'luxon';
import { DomainError } from './errors.ts';

/**
 * Tenant-local calendar. A `Day` is an ISO date `YYYY-MM-DD` (years 0001–9999) and a `Month` is
 * `YYYY-MM`; neither carries a zone. Instants are `Date`s. Day arithmetic is pure integer
 * arithmetic on the proleptic Gregorian calendar; only the mapping between days and instants
 * needs a zone, and only that part uses luxon.
 */
export type Day = string;
export type Month = string;

/** The instants of a day or month: [start, end), `end` exclusive. */
export interface Interval {
  start: Date;
  end: Date;
}

const MS_PER_MINUTE = 60_000;
const MS_PER_HOUR = 3_600_000;
const MS_PER_DAY = 86_400_000;
const DAY_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;
const MONTH_PATTERN = /^(\d{4})-(\d{2})$/;

export class CalendarError extends DomainError {
  constructor(message: string) {
    super('INVALID_CALENDAR_INPUT', message);
  }
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function monthLength(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

interface Ymd {
  year: number;
  month: number;
  day: number;
}

function parseDayParts(s: unknown): Ymd | undefined {
  if (typeof s !== 'string') return undefined;
  const m = DAY_PATTERN.exec(s);
  if (!m) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > monthLength(year, month)) return undefined;
  return { year, month, day };
}

function parseMonthParts(s: unknown): { year: number; month: number } | undefined {
  if (typeof s !== 'string') return undefined;
  const m = MONTH_PATTERN.exec(s);
  if (!m) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  if (year < 1 || month < 1 || month > 12) return undefined;
  return { year, month };
}

function requireDay(s: Day, what = 'day'): Ymd {
  const parts = parseDayParts(s);
  if (!parts) throw new CalendarError(`invalid ${what} ${JSON.stringify(s)}: expected a date YYYY-MM-DD`);
  return parts;
}

function requireMonth(s: Month): { year: number; month: number } {
  const parts = parseMonthParts(s);
  if (!parts) throw new CalendarError(`invalid month ${JSON.stringify(s)}: expected YYYY-MM`);
  return parts;
}

function requireZone(zone: string): IANAZone {
  if (!isValidTimeZone(zone)) throw new CalendarError(`invalid time zone ${JSON.stringify(zone)}`);
  return IANAZone.create(zone);
}

function requireInstant(instant: Date, what = 'instant'): number {
  const ms = instant instanceof Date ? instant.getTime() : Number.NaN;
  if (Number.isNaN(ms)) throw new CalendarError(`invalid ${what} ${String(instant)}: expected a valid Date`);
  return ms;
}

function requireHour(hour: number): void {
  if (!Number.isInteger(hour) || hour < 0 || hour > 23) {
    throw new CalendarError(`invalid cutoff hour ${String(hour)}: expected an integer 0–23`);
  }
}

const pad2 = (n: number): string => String(n).padStart(2, '0');
const formatDay = ({ year, month, day }: Ymd): Day =>
  `${String(year).padStart(4, '0')}-${pad2(month)}-${pad2(day)}`;

/** Days since 1970-01-01 of a civil date (H. Hinnant's algorithm): exact, no `Date` quirks for years < 100. */
function epochDayOf({ year, month, day }: Ymd): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

function civilOf(epochDay: number): Ymd {
  const z = epochDay + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: era * 400 + yoe + (month <= 2 ? 1 : 0), month, day };
}

/**
 * The zone names already found valid. luxon's check builds an `Intl.DateTimeFormat` on every
 * call (~0.3 ms, an ICU object outside V8's heap that the collector frees late): a night of
 * 10,000 tenants asks it ~100,000 times, and a million back-dated settings versions asked it two
 * million times (~2 GB of RSS, 40% of the CPU). Only valid names are kept, so the set is bounded
 * by the runtime's zone list whatever the input.
 */
const validZones = new Set<string>();

/** True for an IANA zone name that this runtime knows (e.g. `Europe/Prague`); fixed offsets like `+01:00` are not zones. */
export function isValidTimeZone(tz: string): boolean {
  if (typeof tz !== 'string' || tz.length === 0) return false;
  if (validZones.has(tz)) return true;
  if (!IANAZone.isValidZone(tz)) return false;
  validZones.add(tz);
  return true;
}

/**
 * Loads the runtime's time-zone data (ICU's, ~20 ms at a process's first zone question, ~0.5 ms
 * for each later zone) without asking anything of a zone in particular: a caller that waits for
 * I/O anyway (a command's first query, while the server starts its backend) pays it then instead
 * of on its critical path.
 */
export function loadTimeZoneData(): void {
  isValidTimeZone('Etc/UTC');
}

/** True for a real calendar date written `YYYY-MM-DD` (`2028-02-29` yes, `2026-02-29` no). */
export function isValidDay(s: string): boolean {
  return parseDayParts(s) !== undefined;
}

/** True for `YYYY-MM` with month 01–12. */
export function isValidMonth(s: string): boolean {
  return parseMonthParts(s) !== undefined;
}

/** The day `n` days after `day` (negative `n`: before). Zone-free: `addDays('2026-02-28', 1)` is `'2026-03-01'`. */
export function addDays(day: Day, n: number): Day {
  if (!Number.isSafeInteger(n))
    throw new CalendarError(`invalid day count ${String(n)}: expected an integer`);
  const result = civilOf(epochDayOf(requireDay(day)) + n);
  if (result.year < 1 || result.year > 9999) {
    throw new CalendarError(`${day} plus ${n} days leaves the supported years 0001–9999`);
  }
  return formatDay(result);
}

/** Every day from `from` to `to`, both included, in order; empty when `from` is after `to`. */
export function dayRange(from: Day, to: Day): Day[] {
  const first = epochDayOf(requireDay(from, 'from day'));
  const last = epochDayOf(requireDay(to, 'to day'));
  const days: Day[] = [];
  for (let e = first; e <= last; e++) days.push(formatDay(civilOf(e)));
  return days;
}

/** Number of days from `from` to `to`, both included (0 when `from` is after `to`), without listing them. */
export function dayCount(from: Day, to: Day): number {
  const n = epochDayOf(requireDay(to, 'to day')) - epochDayOf(requireDay(from, 'from day')) + 1;
  return Math.max(n, 0);
}

/** Number of days (28–31) of the month that contains `day`. */
export function daysInMonth(day: Day): number {
  const { year, month } = requireDay(day);
  return monthLength(year, month);
}

/** 1-based position of `day` in its month: `dayOfMonth('2026-03-29')` is 29. */
export function dayOfMonth(day: Day): number {
  return requireDay(day).day;
}

/** The month `YYYY-MM` that contains `day`. */
export function monthOf(day: Day): Month {
  requireDay(day);
  return day.slice(0, 7);
}

/** Every day of `month`, in order (28–31 days). */
export function monthDays(month: Month): Day[] {
  const { year, month: m } = requireMonth(month);
  const first = formatDay({ year, month: m, day: 1 });
  return dayRange(first, formatDay({ year, month: m, day: monthLength(year, m) }));
}

/** The UTC offset of `zone` at instant `ms`, in milliseconds. */
/**
 * Offsets already computed, per zone and instant. luxon asks `Intl` for every offset (~50 µs);
 * the instants asked are mostly local midnights and cut-offs, the same for every tenant of a
 * zone, so a night of 10,000 tenants asks the same few hundred again and again. Exact (keyed by
 * the millisecond), and emptied when it grows past `OFFSET_CACHE_MAX` entries.
 */
const offsetCache = new Map<string, Map<number, number>>();
const OFFSET_CACHE_MAX = 100_000;
let offsetCacheSize = 0;

function offsetMs(zone: IANAZone, ms: number): number {
  let byInstant = offsetCache.get(zone.name);
  const known = byInstant?.get(ms);
  if (known !== undefined) return known;
  const offset = zone.offset(ms) * MS_PER_MINUTE;
  if (offsetCacheSize >= OFFSET_CACHE_MAX) {
    offsetCache.clear();
    offsetCacheSize = 0;
    byInstant = undefined;
  }
  if (byInstant === undefined) {
    byInstant = new Map();
    offsetCache.set(zone.name, byInstant);
  }
  byInstant.set(ms, offset);
  offsetCacheSize += 1;
  return offset;
}

/**
 * The earliest instant at which the clock of `zone` shows local time `local` (given as
 * "local wall time read as if it were UTC", in ms) or later. This one rule covers both
 * daylight-saving anomalies: an ambiguous time (fall back) resolves to its first occurrence, so
 * a day starts when its date first appears on the clock; a time that does not exist (a gap)
 * resolves to the first instant after the gap.
 */
function firstInstantAtLocal(zone: IANAZone, local: number): number {
  // Every offset that could apply near `local`; zones change offset at most once within a
  // couple of days, except for calendar jumps like Samoa 2011, which ±2 days still covers.
  const offsets = [-2, -1, 0, 1, 2].map((k) => offsetMs(zone, local + k * MS_PER_DAY));
  const exact = offsets.map((o) => local - o).filter((t) => t + offsetMs(zone, t) === local);
  if (exact.length > 0) return Math.min(...exact);
  // A gap: the local time never shows. The clock reads earlier than `local` at `lo` and later
  // at `hi`, with a single transition between them, so "reads `local` or later" is monotonic
  // there: binary-search the first millisecond after the jump.
  let lo = local - Math.max(...offsets);
  let hi = local - Math.min(...offsets);
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (mid + offsetMs(zone, mid) >= local) hi = mid;
    else lo = mid;
  }
  return hi;
}

function localInstant(zone: IANAZone, day: Ymd, hour: number): Date {
  return new Date(firstInstantAtLocal(zone, epochDayOf(day) * MS_PER_DAY + hour * MS_PER_HOUR));
}

/**
 * The instants of tenant day `day` in IANA `zone`: [local midnight of `day`, local midnight of
 * the next day). 24 h long on most days, 23 h or 25 h (23.5 h on Lord Howe) around DST. Where
 * midnight does not exist (e.g. America/Havana 2026-03-08, clocks jump 00:00 -> 01:00), the day
 * starts at the first instant after the gap; where it exists twice, at its first occurrence.
 * Example: `dayBounds('2026-03-29', 'Europe/Prague')` is 2026-03-28T23:00Z to 2026-03-29T22:00Z.
 */
export function dayBounds(day: Day, zone: string): Interval {
  const z = requireZone(zone);
  const parts = requireDay(day);
  const next = civilOf(epochDayOf(parts) + 1);
  return { start: localInstant(z, parts, 0), end: localInstant(z, next, 0) };
}

/** The instants of calendar month `month` in `zone`: [start of its first day, end of its last day). */
export function monthBounds(month: Month, zone: string): Interval {
  const days = monthDays(month);
  const first = days[0] as Day;
  const last = days[days.length - 1] as Day;
  return { start: dayBounds(first, zone).start, end: dayBounds(last, zone).end };
}

/**
 * The tenant day that contains `instant`: the day whose `dayBounds` hold it, so the days of a
 * zone tile the timeline and every instant belongs to exactly one. That is the date on the local
 * clock, except in the one hour where a zone falls back across midnight (America/St_Johns did
 * so at 00:01 until 2011): the clock shows yesterday's date again, but today began when its
 * date first appeared, and an event in that hour belongs to today.
 */
export function dayOf(instant: Date, zone: string): Day {
  const z = requireZone(zone);
  const ms = requireInstant(instant);
  // The local date: the UTC date of the instant shifted by the zone's offset then (what luxon's
  // DateTime computes, through the offsets `offsetMs` keeps: a night asks the same instants of a
  // zone for every tenant, and luxon's own was ~0.2 ms a call, most of planning a night).
  const local = civilOf(Math.floor((ms + offsetMs(z, ms)) / MS_PER_DAY));
  const iso = local.year >= 1 && local.year <= 9999 ? formatDay(local) : null;
  if (iso === null || !isValidDay(iso))
    throw new CalendarError(`instant ${instant.toISOString()} is outside years 0001–9999`);
  const next = civilOf(epochDayOf(requireDay(iso)) + 1);
  return ms >= localInstant(z, next, 0).getTime() ? formatDay(next) : iso;
}

/**
 * The instant at which day `day` becomes billable: when the local clock of `zone` first reaches
 * `cutoffHour`:00 (integer 0–23) on the following day. If that local time falls in a DST gap, the
 * first instant after the gap. Example: `billableAt('2026-03-28', 'Europe/Prague', 2)` is
 * 2026-03-29T01:00Z (02:00 does not exist that night; the clock jumps to 03:00 CEST).
 */
export function billableAt(day: Day, zone: string, cutoffHour: number): Date {
  requireHour(cutoffHour);
  const z = requireZone(zone);
  return localInstant(z, civilOf(epochDayOf(requireDay(day)) + 1), cutoffHour);
}

/**
 * The latest day D with `billableAt(D, zone, cutoffHour) <= now`. Before the cut-off that is
 * the day before yesterday (local), from the cut-off on it is yesterday.
 */
export function latestBillableDay(now: Date, zone: string, cutoffHour: number): Day {
  requireHour(cutoffHour);
  const ms = requireInstant(now, 'now');
  const today = dayOf(now, zone);
  // billableAt is increasing in D, and billableAt(today - 2) lies before today's start <= now,
  // so the loop returns by its third step at the latest.
  for (let back = 0; ; back++) {
    const candidate = addDays(today, -back);
    if (billableAt(candidate, zone, cutoffHour).getTime() <= ms) return candidate;
  }
}
