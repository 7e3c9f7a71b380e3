import { InputError } from '../src/errors.ts';

/*
 * Checks a cron pattern before it reaches BullMQ, so that a typo in `--schedule` or
 * BILLING_SCHEDULE stops the worker at start-up with a message naming the bad field instead of
 * failing later inside Redis. Accepts 5 fields (minute first) or 6 (second first).
 */

interface Field {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
}

const SECOND: Field = { name: 'second', min: 0, max: 59 };
const FIELDS: Field[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  {
    name: 'month',
    min: 1,
    max: 12,
    names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'],
  },
  { name: 'day of week', min: 0, max: 7, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] },
];

function value(token: string, field: Field): number | undefined {
  const named = field.names?.indexOf(token.toUpperCase()) ?? -1;
  if (named >= 0) return field.name === 'month' ? named + 1 : named;
  if (!/^\d+$/.test(token)) return undefined;
  const n = Number(token);
  return n >= field.min && n <= field.max ? n : undefined;
}

function validPart(part: string, field: Field): boolean {
  const [range, step, ...rest] = part.split('/');
  if (rest.length > 0 || range === undefined) return false;
  if (step !== undefined && !(/^\d+$/.test(step) && Number(step) > 0)) return false;
  if (range === '*' || (range === '?' && field.name.startsWith('day of'))) return true;
  const [lo, hi, ...more] = range.split('-');
  if (more.length > 0 || lo === undefined) return false;
  const a = value(lo, field);
  if (a === undefined) return false;
  if (hi === undefined) return true;
  const b = value(hi, field);
  return b !== undefined && a <= b;
}

/** Throws InputError (exit 2) naming the source and the bad field; returns the trimmed pattern. */
export function validateCronPattern(pattern: string, source = '--schedule'): string {
  const fields = pattern.trim().split(/\s+/);
  const spec = fields.length === 6 ? [SECOND, ...FIELDS] : fields.length === 5 ? FIELDS : undefined;
  if (!spec) {
    throw new InputError(
      `${source}: bad cron pattern "${pattern}": expected 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, got ${fields.length}`,
    );
  }
  fields.forEach((f, i) => {
    const field = spec[i] as Field;
    if (!f.split(',').every((part) => validPart(part, field))) {
      throw new InputError(
        `${source}: bad cron pattern "${pattern}": field ${i + 1} (${field.name}) "${f}" is not valid (allowed ${field.min}-${field.max}, *, ranges a-b, lists a,b and steps /n)`,
      );
    }
  });
  return fields.join(' ');
}
