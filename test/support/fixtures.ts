/** The price book example of `docs/file-formats.md` (minor units): the default book of most tests. */
export const CLI_PRICE_BOOK = {
  currency: 'EUR',
  validFrom: '2026-01-01',
  tenantId: null as string | null,
  monthly: {
    dashboard: 500,
    standard: 1900,
    professional: 3900,
    enterprise: 5900,
    developer: 9900,
    recording: 900,
  },
  daily: { professional: 250, enterprise: 390, recording: 50 },
};
