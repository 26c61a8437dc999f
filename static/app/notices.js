// The text of a message as the page shows it. People's messages are their text. A workflow notice
// about an appointment carries its start as an instant in `data` (docs/workflow.md#notices): the
// page writes it in its reader's time zone and language, where the stored text gives the
// service's clock in French. Notices stored before `data` existed said the time in UTC
// ("le 02/12/2026 à 10:44 UTC"): that time is rewritten in the reader's zone too. A tombstone (the
// message of a person whose data was erased) reads as such in the reader's language.

import { formatLongDateTime, t } from "./i18n.js";

const SYSTEM_SENDER = "system";
const ERASED_SENDER = "*erased";  // a tombstone: the message of a person whose data was erased
const APPOINTMENT_EVENTS = new Set(["scheduled", "cancelled", "missed"]);
const OLD_UTC_TIME = /(\d{2})\/(\d{2})\/(\d{4}) à (\d{2}):(\d{2}) UTC/;

/**
 * @param {{from: string, text: string, data?: Record<string, unknown>}} m
 * @returns {string}
 */
export function messageText(m) {
  if (m.from === ERASED_SENDER && m.data?.erased === true) return t("message_erased");  // docs/privacy.md
  if (m.from !== SYSTEM_SENDER) return m.text;
  const data = m.data;
  if (data?.notice === "appointment" && APPOINTMENT_EVENTS.has(/** @type {string} */ (data.event))
      && typeof data.start === "number") {
    return t(`notice_appointment_${data.event}`, formatLongDateTime(data.start), data.duration_min);
  }
  return m.text.replace(OLD_UTC_TIME, (_, day, month, year, hour, minute) =>
    formatLongDateTime(Date.UTC(Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute))));
}
