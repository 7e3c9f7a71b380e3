/** Largest text kept for a value that `JSON.stringify` cannot render (the store caps it anyway). */
const MAX_RENDER_CHARS = 64 * 1024;
/** Nesting kept in such a render; deeper levels are replaced by a marker. */
const MAX_RENDER_DEPTH = 64;
const CUT = '"…(cut)"';

/**
 * The JSON text of one decoded value, to keep as a reject's raw payload. Never throws: a value
 * that `JSON.stringify` cannot render (a depth bomb overflows its stack) is rendered to
 * `MAX_RENDER_DEPTH` levels and `MAX_RENDER_CHARS` characters, with `"…(cut)"` where it was cut.
 */
export function jsonText(value: unknown): string {
  try {
    return JSON.stringify(value) ?? 'null';
  } catch {
    return boundedJson(value);
  }
}

function boundedJson(value: unknown): string {
  const parts: string[] = [];
  let size = 0;
  const put = (s: string) => {
    parts.push(s);
    size += s.length;
  };
  const walk = (v: unknown, depth: number): void => {
    if (size > MAX_RENDER_CHARS) return;
    if (typeof v !== 'object' || v === null) {
      let s: string | undefined;
      try {
        s = JSON.stringify(v);
      } catch {
        s = undefined; // a BigInt cannot come out of JSON.parse; be safe anyway
      }
      put(s ?? 'null');
      return;
    }
    if (depth >= MAX_RENDER_DEPTH) {
      put(CUT);
      return;
    }
    const array = Array.isArray(v);
    put(array ? '[' : '{');
    let first = true;
    for (const [k, x] of array ? (v as unknown[]).entries() : Object.entries(v)) {
      if (size > MAX_RENDER_CHARS) break;
      if (!first) put(',');
      first = false;
      if (!array) put(`${JSON.stringify(k)}:`);
      walk(x, depth + 1);
    }
    put(array ? ']' : '}');
  };
  walk(value, 0);
  const text = parts.join('');
  return text.length > MAX_RENDER_CHARS ? `${text.slice(0, MAX_RENDER_CHARS)}${CUT}` : text;
}
