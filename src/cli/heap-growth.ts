import v8 from 'node:v8';

/**
 * How much V8 lets the old generation grow past what survived the last full collection before
 * collecting again, in percent. V8's own factor grows up to 4x when collections are cheap, so a
 * process whose live set is ~30 MB (the file import: code, and the batches in flight) carried
 * ~130 MB of old generation before each full collection and peaked at 228 MB RSS for 1M events;
 * at 50% it peaks at ~150 MB with slightly less CPU (fewer pages touched), measured in
 * docs/performance/ingest.md.
 */
const HEAP_GROWING_PERCENT = 50;

/**
 * Bounds the heap's growth for the rest of this process (ingest and serve: the processes whose
 * peak RSS has a budget). V8 reads this flag each time it sets the next collection's limit, so
 * setting it at run time works like the command-line flag `--heap-growing-percent` (checked:
 * same peaks), which the compiled CLI cannot take from its launcher.
 */
export function boundHeapGrowth(): void {
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
