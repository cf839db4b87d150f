// Message framing checks done by Wicket itself (RFC 9112 §6.1, §6.3): uWS
// v20.30 frames a body by the first of two conflicting Content-Length headers
// and accepts Transfer-Encoding lists such as "gzip, chunked". Forwarding
// either would hand the upstream a desync, so both are refused with 400.

/** Parsed framing, or an error string naming what was wrong. */
export interface Framing {
  contentLength: number; // -1 when absent
  chunked: boolean;
  error: string | null;
}

const DIGITS = /^[0-9]{1,15}$/;

/** `cl` and `te` are every received value of those headers, in order. */
export function checkFraming(cl: readonly string[] | null, te: readonly string[] | null, out: Framing): void {
  out.contentLength = -1;
  out.chunked = false;
  out.error = null;
  if (te !== null) {
    if (cl !== null) {
      out.error = 'both Transfer-Encoding and Content-Length';
      return;
    }
    const codings = te.join(',').split(',').map((s) => s.trim().toLowerCase());
    if (codings.length !== 1 || codings[0] !== 'chunked') {
      out.error = `unsupported Transfer-Encoding "${te.join(', ')}"`;
      return;
    }
    out.chunked = true;
    return;
  }
  if (cl !== null) {
    let value: string | null = null;
    for (const header of cl) {
      // A list ("5, 5") is legal, but uWS v20.30 drops such a client after
      // framing the body itself: refuse it before anything is forwarded.
      if (header.includes(',')) {
        out.error = 'Content-Length list';
        return;
      }
      const v = header.trim();
      if (!DIGITS.test(v)) {
        out.error = 'malformed Content-Length';
        return;
      }
      if (value !== null && Number(v) !== Number(value)) {
        out.error = 'conflicting Content-Length values';
        return;
      }
      value = v;
    }
    out.contentLength = Number(value);
  }
}
