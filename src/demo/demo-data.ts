import { addDays, type Day, dayBounds, type Month, monthDays } from '../domain/calendar.ts';

/**
 * The sample data of `billing demo`: one tenant, ~50 users, a month of logins. Pure and
 * deterministic: a seeded PRNG, no clock, so every run produces the same files and invoice.
 */
export const DEMO_TENANT = {
  id: 'demo',
  name: 'Demo Contact Centre',
  timezone: 'Europe/Prague',
  currency: 'EUR',
} as const;

/** October 2026: 31 days, and Prague's 25-hour day (DST ends on the 25th). */
export const DEMO_MONTH: Month = '2026-10';

/** The demo's business clock: 06:00 Prague on 2 November, after every October day is billable. */
export const DEMO_NOW = new Date('2026-11-02T05:00:00Z');

/** The default price book of `docs/file-formats.md` (minor units). */
export const DEMO_PRICE_BOOK = {
  currency: 'EUR',
  validFrom: '2026-01-01',
  tenantId: null,
  monthly: {
    dashboard: 500,
    standard: 1900,
    professional: 3900,
    enterprise: 5900,
    developer: 9900,
    recording: 900,
  },
  daily: { professional: 250, enterprise: 390, recording: 50 },
} as const;

/** mulberry32: a tiny seeded PRNG with uniform output in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Settings fields of `docs/licensing.md` (what decides the license). */
interface Profile {
  role?: 'user' | 'team_leader' | 'administrator';
  permissions?: string[];
  skills?: string[];
  trackStatistics?: boolean;
  recordCalls?: boolean;
  billing?: 'monthly' | 'daily';
}

/** One line of the settings NDJSON (`docs/file-formats.md`). */
export interface DemoSettingsLine extends Profile {
  tenantId: string;
  userId: string;
  effectiveAt: string;
  active?: boolean;
  email: string;
  lastName: string;
}

/** One line of the login-event NDJSON (`docs/file-formats.md`). */
export interface DemoLoginLine {
  eventId: string;
  tenantId: string;
  userId: string;
  occurredAt: string;
}

const DASHBOARD: Profile = { permissions: ['dashboard'] };
const STANDARD: Profile = { permissions: ['communication'], skills: ['cz-voice'] };
const PROFESSIONAL: Profile = { permissions: ['communication'], skills: ['cz-voice', 'sk-voice'] };
const TEAM_LEADER: Profile = { role: 'team_leader', permissions: ['communication'], skills: ['cz-voice'] };
const ENTERPRISE: Profile = { role: 'administrator', permissions: ['communication'] };
const DEVELOPER: Profile = { permissions: ['communication', 'api'] };

/** A user's story over the month: versions (day + local time + profile) and how often they log in. */
interface Story {
  versions: { day: Day; time: string; profile: Profile; active?: boolean }[];
  /** Probability of logging in on a working day (weekends: a fifth of it). */
  loginRate: number;
}

const LAST_NAMES = [
  'Nováková',
  'Dvořák',
  'Černý',
  'Procházková',
  'Kučera',
  'Veselá',
  'Horák',
  'Němcová',
  'Marek',
  'Pokorná',
  'Müller',
  "O'Brien",
  'Schmidt',
  'Kowalska',
  'Rossi',
  'García',
  'Smith',
  'Janssen',
  'Dubois',
  'Silva',
  'Svoboda',
  'Král',
  'Růžičková',
  'Beneš',
  'Fiala',
  'Sedláček',
  'Doležal',
  'Zeman',
  'Kolář',
  'Navrátilová',
  'Čermák',
  'Urban',
  'Vaněk',
  'Blažek',
  'Kříž',
  'Kovář',
  'Bartoš',
  'Vlček',
  'Polák',
  'Musil',
  'Kopecký',
  'Šimek',
  'Konečná',
  'Malý',
  'Holub',
  'Štěpánek',
  'Staněk',
  'Kadlec',
  'Dostál',
  'Soukup',
  'Hájek',
  'Jelínek',
];

/** The cast: every license, both billing modes, recording, mid-month changes, arrivals and a removal. */
function stories(month: Month): Story[] {
  const first = `${month}-01`;
  const at = (n: number) => addDays(first, n - 1);
  const plain = (profile: Profile, loginRate = 0.85): Story => ({
    versions: [{ day: first, time: '00:00', profile }],
    loginRate,
  });
  return [
    ...Array.from({ length: 5 }, () => plain(DASHBOARD, 0.5)),
    ...Array.from({ length: 8 }, () => plain(STANDARD)),
    ...Array.from({ length: 4 }, () => plain({ ...STANDARD, recordCalls: true })),
    plain({ ...STANDARD, billing: 'daily' }), // a daily request on standard is billed monthly
    ...Array.from({ length: 5 }, () => plain(PROFESSIONAL)),
    ...Array.from({ length: 3 }, () => plain({ ...PROFESSIONAL, recordCalls: true })),
    ...Array.from({ length: 4 }, () => plain({ ...TEAM_LEADER, billing: 'daily' }, 0.7)),
    ...Array.from({ length: 2 }, () => plain({ ...TEAM_LEADER, billing: 'daily', recordCalls: true }, 0.7)),
    plain({ ...TEAM_LEADER, billing: 'daily' }, 0), // daily, never logs in: never billed
    ...Array.from({ length: 3 }, () => plain(ENTERPRISE)),
    plain({ ...ENTERPRISE, recordCalls: true }), // recording is included in enterprise: no add-on
    ...Array.from({ length: 3 }, () => plain({ permissions: ['workspace'], billing: 'daily' }, 0.6)),
    ...Array.from({ length: 3 }, () => plain(DEVELOPER)),
    // Upgrade at 23:59: the whole day is billed at the higher license.
    {
      versions: [
        { day: first, time: '00:00', profile: STANDARD },
        { day: at(14), time: '23:59', profile: PROFESSIONAL },
      ],
      loginRate: 0.85,
    },
    // Downgrade at 00:01: that day still counts at the old license, the next ones at the new.
    {
      versions: [
        { day: first, time: '00:00', profile: PROFESSIONAL },
        { day: at(20), time: '00:01', profile: STANDARD },
      ],
      loginRate: 0.85,
    },
    // Switches from monthly to daily billing on the 10th.
    {
      versions: [
        { day: first, time: '00:00', profile: ENTERPRISE },
        { day: at(10), time: '09:00', profile: { ...ENTERPRISE, billing: 'daily' } },
      ],
      loginRate: 0.8,
    },
    // Adds call recording on the 8th.
    {
      versions: [
        { day: first, time: '00:00', profile: STANDARD },
        { day: at(8), time: '12:00', profile: { ...STANDARD, recordCalls: true } },
      ],
      loginRate: 0.85,
    },
    // Removed on the 20th at 10:00 (billed for the 20th, not after).
    {
      versions: [
        { day: first, time: '00:00', profile: PROFESSIONAL },
        { day: at(20), time: '10:00', profile: PROFESSIONAL, active: false },
      ],
      loginRate: 0.85,
    },
    // Joins mid-month.
    { versions: [{ day: at(12), time: '09:00', profile: STANDARD }], loginRate: 0.85 },
    {
      versions: [{ day: at(19), time: '13:30', profile: { ...TEAM_LEADER, billing: 'daily' } }],
      loginRate: 0.85,
    },
  ];
}

/** `day` at local `time` (HH:MM) in `zone`, as an ISO instant, via the tenant calendar. */
function localInstant(day: Day, time: string, zone: string): string {
  const [h, m] = time.split(':').map(Number) as [number, number];
  return new Date(dayBounds(day, zone).start.getTime() + (h * 60 + m) * 60_000).toISOString();
}

export interface DemoData {
  settings: DemoSettingsLine[];
  logins: DemoLoginLine[];
}

/** The demo's users and their logins over `month`, the same for the same `seed`. */
export function demoData(month: Month = DEMO_MONTH, seed = 20_261_001): DemoData {
  const random = seededRandom(seed);
  const zone = DEMO_TENANT.timezone;
  const days = monthDays(month);
  const settings: DemoSettingsLine[] = [];
  const logins: DemoLoginLine[] = [];
  stories(month).forEach((story, index) => {
    const userId = `u-${String(index + 1).padStart(3, '0')}`;
    const lastName = LAST_NAMES[index % LAST_NAMES.length] as string;
    const email = `${userId}@demo.example`;
    for (const v of story.versions) {
      settings.push({
        tenantId: DEMO_TENANT.id,
        userId,
        effectiveAt: localInstant(v.day, v.time, zone),
        ...(v.active === false ? { active: false } : {}),
        email,
        lastName,
        ...v.profile,
      });
    }
    const joined = story.versions[0]?.day as Day;
    const removed = story.versions.find((v) => v.active === false)?.day;
    for (const day of days) {
      if (day < joined || (removed !== undefined && day > removed)) continue;
      const weekday = new Date(`${day}T12:00:00Z`).getUTCDay();
      const rate = weekday === 0 || weekday === 6 ? story.loginRate / 5 : story.loginRate;
      if (random() >= rate) continue;
      const count = 1 + Math.floor(random() * 3);
      for (let k = 1; k <= count; k++) {
        const minute = 7 * 60 + Math.floor(random() * 11 * 60);
        const time = `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;
        logins.push({
          eventId: `${userId}.${day}.${k}`,
          tenantId: DEMO_TENANT.id,
          userId,
          occurredAt: localInstant(day, time, zone),
        });
      }
    }
  });
  return { settings, logins };
}
