/**
 * A reader of PostgreSQL's binary COPY format (`COPY … TO STDOUT (FORMAT binary)`), chunk by
 * chunk as the server sends it: an 11-byte signature, a 4-byte flags word and a header extension,
 * then per tuple a 16-bit field count and per field a 32-bit length (-1: NULL) and the bytes;
 * a field count of -1 ends the data. Binary rather than text or CSV format because it hands the
 * field bytes over exactly as stored: text format would escape the CR LF inside a CSV record.
 */

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const HEADER_BYTES = SIGNATURE.length + 8;

/** One tuple's fields as views into the chunk (valid until the next `push`); null for SQL NULL. */
export type CopyTuple = (Buffer | null)[];

export class CopyBinaryReader {
  #pending: Buffer = Buffer.alloc(0);
  #headerDone = false;
  #ended = false;

  /** Feeds one chunk; calls `onTuple` for every tuple it completes, synchronously. */
  push(chunk: Buffer, onTuple: (fields: CopyTuple) => void): void {
    let buf = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    let at = 0;
    if (!this.#headerDone) {
      if (buf.length < HEADER_BYTES) {
        this.#pending = buf;
        return;
      }
      if (!buf.subarray(0, SIGNATURE.length).equals(SIGNATURE)) throw new Error('not a binary COPY stream');
      at = HEADER_BYTES + buf.readUInt32BE(SIGNATURE.length + 4);
      this.#headerDone = true;
    }
    const fields: CopyTuple = [];
    for (;;) {
      if (this.#ended || buf.length - at < 2) break;
      const count = buf.readInt16BE(at);
      if (count === -1) {
        this.#ended = true;
        at += 2;
        break;
      }
      let p = at + 2;
      fields.length = 0;
      let complete = true;
      for (let f = 0; f < count; f++) {
        if (buf.length - p < 4) {
          complete = false;
          break;
        }
        const len = buf.readInt32BE(p);
        p += 4;
        if (len === -1) {
          fields.push(null);
          continue;
        }
        if (buf.length - p < len) {
          complete = false;
          break;
        }
        fields.push(buf.subarray(p, p + len));
        p += len;
      }
      if (!complete) break;
      onTuple(fields);
      at = p;
    }
    // Copied: the rest of a tuple must not keep the whole chunk alive.
    buf = buf.subarray(at);
    this.#pending = buf.length === 0 ? Buffer.alloc(0) : Buffer.from(buf);
  }

  /** Throws when the stream stopped inside a tuple or before its trailer. */
  end(): void {
    if (!this.#ended || this.#pending.length > 0) throw new Error('binary COPY stream ended early');
  }
}
