import { Argument, InvalidArgumentError, Option } from 'commander';
import { isValidDay, isValidMonth } from '../domain/calendar.ts';
import { InputError } from '../errors.ts';

export function parseIntOption(name: string) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError(`${name} must be an integer, got "${value}"`);
    return Number(value);
  };
}

/** A tenant-local day option, YYYY-MM-DD, checked when commander reads it (exit 2 naming it). */
export function parseDayOption(name: string) {
  return (value: string): string => {
    if (!isValidDay(value)) throw new InvalidArgumentError(`${name}: "${value}" is not a date YYYY-MM-DD`);
    return value;
  };
}

/** A calendar month option, YYYY-MM, checked when commander reads it (exit 2 naming it). */
export function parseMonthOption(name: string) {
  return (value: string): string => {
    if (!isValidMonth(value)) throw new InvalidArgumentError(`${name}: "${value}" is not a month YYYY-MM`);
    return value;
  };
}

/** `--to` must not come before `--day` (the services say the same without naming flags). */
export function checkDayOrder(opts: { day: string; to?: string | undefined }): void {
  if (opts.to !== undefined && opts.to < opts.day)
    throw new InputError(`--to ${opts.to} is before --day ${opts.day}`);
}

/** The file of an NDJSON import command. */
export const importFileArgument = (): Argument =>
  new Argument('<file>', 'NDJSON file, or - for standard input');

/** `--json` of an import command: the counts again, as one JSON object on the last line. */
export const importCountsJsonOption = (): Option =>
  new Option('--json', 'print the counts as one JSON object on the last line');
