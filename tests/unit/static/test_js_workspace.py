"""The advisor workspace's pure modules, run under Node: the calendar file (static/app/ics.js),
the search, filters and attention order (attention.js) and the paced sends to several
conversations (bulk-send.js)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from js_support import run_js


def ics(script: str) -> Any:
    return run_js({"ics": "app/ics.js"}, script)


def test_an_appointment_file_is_rfc_5545_with_utc_instants() -> None:
    start = int(datetime(2027, 1, 12, 10, 44, tzinfo=UTC).timestamp() * 1000)
    text = ics(f"""result = ics.appointmentIcs({{uid: 'ap-1@rtserver', start: {start}, durationMin: 30,
      summary: 'Entretien vidéo avec Karim Benali, suivi; point', description: 'ligne 1\\nligne 2',
      now: {start - 86_400_000}}});""")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    lines = text.split("\r\n")[:-1]
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-1] == "END:VCALENDAR"
    assert "VERSION:2.0" in lines and "UID:ap-1@rtserver" in lines
    # The instants in UTC (form #2, the Z): 10:44 UTC is 11:44 in Paris, 07:44 in Cayenne, in
    # whatever zone the page that built the file ran.
    assert "DTSTART:20270112T104400Z" in lines and "DTEND:20270112T111400Z" in lines
    assert "DTSTAMP:20270111T104400Z" in lines
    assert "SUMMARY:Entretien vidéo avec Karim Benali\\, suivi\\; point" in lines
    assert "DESCRIPTION:ligne 1\\nligne 2" in lines
    assert not any(line.startswith(("TZID", "BEGIN:VTIMEZONE")) for line in lines)


def test_long_lines_fold_at_75_octets_without_splitting_a_character() -> None:
    folded = ics("result = ics.fold('SUMMARY:' + 'é'.repeat(100));")
    parts = folded.split("\r\n")
    assert len(parts) > 1
    assert all(len(p.encode()) <= 75 for p in parts)
    assert all(p.startswith(" ") for p in parts[1:])
    assert "".join(p[1:] if i else p for i, p in enumerate(parts)) == "SUMMARY:" + "é" * 100


def test_the_file_is_the_same_in_any_time_zone_of_the_page() -> None:
    for zone in ("Europe/Paris", "America/Cayenne", "Pacific/Auckland"):
        text = run_js({"ics": "app/ics.js"}, f"""process.env.TZ = {zone!r};
          result = ics.appointmentIcs({{uid: 'u', start: Date.UTC(2027, 2, 28, 0, 30), durationMin: 45,
                                        summary: 's', now: 0}});""")
        assert re.search(r"DTSTART:20270328T003000Z\r\nDTEND:20270328T011500Z", text), (zone, text)


def attention(script: str) -> Any:
    return run_js({"a": "app/attention.js"}, script)


FACTS = """const base = {unread: 0, waiting: false, openCallbacks: 0, lateCallback: false, nextAppointment: null,
  verdict: null, status: 'offline', lastTs: null};
const now = Date.UTC(2027, 0, 12, 9, 0);
const row = (name, more) => ({facts: {...base, name, ...more}});
const rows = [
  row('Alice Martin'), row('Bruno Petit', {unread: 2, lastTs: now - 60000}),
  row('Chloé Durand', {lateCallback: true, openCallbacks: 1}),
  row('Hélène Dupré', {waiting: true}), row('Eric Moreau', {nextAppointment: now + 30 * 60000}),
  row('Fanny Roux', {openCallbacks: 1}), row('Gilles Blanc', {verdict: 'not-ready', status: 'online'}),
  row('Inès Faure', {unread: 1, lastTs: now - 3600000}),
];
const names = (list) => list.map((r) => r.facts.name);"""


def test_attention_first_puts_waiting_late_unread_and_soon_above_the_rest() -> None:
    order = attention(FACTS + "result = names(a.order(rows, 'attention', now, 'fr'));")
    assert order == ["Hélène Dupré", "Chloé Durand", "Bruno Petit", "Inès Faure", "Eric Moreau", "Fanny Roux",
                     "Gilles Blanc", "Alice Martin"]
    assert attention(FACTS + "result = names(a.order(rows, 'name', now, 'fr')).slice(0, 3);") == [
        "Alice Martin", "Bruno Petit", "Chloé Durand"]


def test_search_ignores_case_and_accents_and_filters_say_what_to_do() -> None:
    found = attention(FACTS + """result = {
      search: names(rows.filter((r) => a.matches(r.facts, a.fold('HELENE dup'), 'all', now))),
      unread: names(rows.filter((r) => a.matches(r.facts, '', 'unread', now))),
      callbacks: names(rows.filter((r) => a.matches(r.facts, '', 'callbacks', now))),
      appointments: names(rows.filter((r) => a.matches(r.facts, '', 'appointments', now))),
      notready: names(rows.filter((r) => a.matches(r.facts, '', 'notready', now))),
      online: names(rows.filter((r) => a.matches(r.facts, '', 'online', now))),
    };""")
    assert found == {"search": ["Hélène Dupré"], "unread": ["Bruno Petit", "Hélène Dupré", "Inès Faure"],
                     "callbacks": ["Chloé Durand", "Fanny Roux"], "appointments": ["Eric Moreau"],
                     "notready": ["Gilles Blanc"], "online": ["Gilles Blanc"]}


def test_sends_to_many_stay_within_the_budget_and_the_concurrency() -> None:
    # 150 rooms, budget 40 at once then 20/s: half of it, 20 at once, then one every 100 ms;
    # never more than 4 in flight; a refused send is reported, the others go on.
    result = run_js({"b": "app/bulk-send.js"}, """
      let clock = 0, inFlight = 0, most = 0;
      const times = [];
      const client = {send: async (room) => {
        inFlight += 1; most = Math.max(most, inFlight); times.push(clock);
        await new Promise((resolve) => setTimeout(resolve, 1));
        inFlight -= 1;
        if (room === 'r7') throw new Error('forbidden');
      }};
      const rooms = Array.from({length: 150}, (_, i) => `r${i}`);
      const progress = [];
      const out = await b.sendToMany(client, rooms, 'Bonjour', {limits: {burst_messages: 40, max_messages_per_s: 20},
        sleep: async (ms) => { clock += ms; }, onProgress: (done, failed) => progress.push(done + failed)});
      result = {sent: out.sent.length, failed: out.failed.map((f) => f.room), most,
        immediate: times.filter((t) => t === 0).length,
        last: clock, progress: progress.at(-1)};""")
    assert result == {"sent": 149, "failed": ["r7"], "most": 4, "immediate": 20, "last": 13_000, "progress": 150}
