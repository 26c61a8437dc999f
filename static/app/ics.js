// An appointment as an iCalendar file (RFC 5545), built in the page: one VEVENT whose start and
// end are UTC instants ("19990101T100000Z", section 3.3.5 form #2). An instant written in UTC
// needs no VTIMEZONE and is shown by every calendar in its owner's zone, so the file is right
// whatever zone the page, the server (working_timezone) and the calendar are in.

/** RFC 5545 3.1: content lines longer than 75 octets are folded (CRLF and one space). */
const FOLD_OCTETS = 75;

/** @param {number} ms */
export function utcStamp(ms) {
  return new Date(ms).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

/**
 * TEXT value (3.3.11): backslash, semicolon and comma escaped, line breaks as \n; other
 * control characters dropped (not allowed in a TEXT value).
 * @param {string} text
 */
export function escapeText(text) {
  return text.replace(/\\/g, "\\\\").replace(/;/g, "\\;").replace(/,/g, "\\,").replace(/\r\n|\r|\n/g, "\\n")
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, "");
}

/**
 * Fold one content line at 75 octets of UTF-8, never inside a character.
 * @param {string} line
 */
export function fold(line) {
  const encoder = new TextEncoder();
  const parts = [];
  let current = "";
  let octets = 0;
  for (const char of line) {
    const size = encoder.encode(char).length;
    const limit = parts.length === 0 ? FOLD_OCTETS : FOLD_OCTETS - 1;  // continuation lines start with a space
    if (octets + size > limit) {
      parts.push(current);
      current = "";
      octets = 0;
    }
    current += char;
    octets += size;
  }
  parts.push(current);
  return parts.join("\r\n ");
}

/**
 * @param {object} event
 * @param {string} event.uid  stable: the same appointment downloaded twice updates one entry
 * @param {number} event.start  ms since the epoch
 * @param {number} event.durationMin
 * @param {string} event.summary
 * @param {string} [event.description]
 * @param {string} [event.url]
 * @param {number} [event.now]  DTSTAMP, ms (the file's creation)
 * @param {boolean} [event.cancelled]
 * @returns {string}  the file, CRLF line ends
 */
export function appointmentIcs({ uid, start, durationMin, summary, description = "", url = "", now = Date.now(),
  cancelled = false }) {
  const lines = [
    "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//rtserver//follow-up//EN", "CALSCALE:GREGORIAN",
    cancelled ? "METHOD:CANCEL" : "METHOD:PUBLISH",
    "BEGIN:VEVENT",
    `UID:${escapeText(uid)}`,
    `DTSTAMP:${utcStamp(now)}`,
    `DTSTART:${utcStamp(start)}`,
    `DTEND:${utcStamp(start + durationMin * 60000)}`,
    `SUMMARY:${escapeText(summary)}`,
  ];
  if (description) lines.push(`DESCRIPTION:${escapeText(description)}`);
  if (url) lines.push(`URL:${url}`);
  lines.push(`STATUS:${cancelled ? "CANCELLED" : "CONFIRMED"}`, "END:VEVENT", "END:VCALENDAR");
  return lines.map(fold).join("\r\n") + "\r\n";
}
