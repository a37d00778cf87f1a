// "Cari panggilan" and a call's timeline (issue #23): their words (Bahasa Indonesia first) and
// the centre's times. The API sends every time as ISO 8601 with the centre's UTC offset; the
// pages show that wall-clock time, whatever the zone of the browser (a laptop set to UTC must
// not move a call from the night of the flood to the next morning).
"use strict";

Object.assign(WORDS.id, {
  searchTitle: "Cari panggilan", timelineTitle: "Lini waktu panggilan", toWallboard: "Papan Pantau",
  backToSearch: "‹ Cari panggilan", search: "Cari", clear: "Kosongkan", any: "Semua", yes: "Ya", no: "Tidak",
  f_caller: "Nomor penelepon", f_since: "Dari", f_until: "Sampai", f_calltaker: "Operator",
  f_outcome: "Hasil", f_disposition: "Klasifikasi", f_tag: "Tanda", f_fallback: "Antrean cadangan",
  f_perPage: "Per halaman", callerHint: "0812… atau +62812… (awalan boleh)", calltakerHint: "mis. 1001",
  tzNote: "Waktu menurut zona waktu pusat panggilan.", csv: "Unduh CSV", started: "Mulai",
  calltaker: "Operator", waitS: "Tunggu", talkS: "Bicara", prev: "‹ Sebelumnya", next: "Berikutnya ›",
  page: "Halaman", of: "dari", found: "panggilan ditemukan", noneFound: "Tidak ada panggilan yang cocok",
  searching: "Mencari…", sentAs: "dikirim sebagai", hasRecording: "Ada", held: "DITAHAN",
  fallbackTag: "cadangan", callFacts: "Ringkasan panggilan", endedAt: "Selesai", callerSent: "Nomor asli",
  noRecording: "Tidak ada rekaman untuk panggilan ini.", durationS: "Durasi", sha256: "SHA-256",
  sealed: "Tersegel", notSealed: "BELUM tersegel", expires: "Dihapus otomatis pada", neverExpires: "—",
  hold: "Tahan (legal hold)", unhold: "Cabut penahanan", holdState: "Penahanan hukum", notHeld: "Tidak ditahan",
  heldNoExpiry: "tidak dihapus selama ditahan", export: "Ekspor berkas bukti",
  exportReason: "Alasan ekspor (wajib), mis. permintaan Polres no. …", holdReason: "Alasan penahanan / pencabutan (wajib)",
  exported: "Berkas bukti diunduh", heldDone: "Panggilan ditahan", unheldDone: "Penahanan dicabut",
  events: "Urutan kejadian", at: "Waktu", kind: "Kejadian", detail: "Keterangan", by: "Oleh",
  access: "Riwayat akses rekaman", action: "Tindakan", noAccess: "Belum pernah didengar atau diekspor.",
  integrity: "PERINGATAN: rekaman tidak cocok dengan sidik (SHA-256) di jurnal, tidak diputar. Alarm sudah dikirim",
  playFailed: "Rekaman tidak dapat diputar", notFound: "Panggilan tidak ditemukan",
  forbidden: "Anda tidak berwenang melihat panggilan ini", noCallId: "Tidak ada nomor panggilan di alamat ini",
  k_entered: "Masuk", k_screened: "Penyaringan", k_offered: "Ditawarkan", k_missed: "Tak diangkat",
  k_answered: "Dijawab", k_handoff: "Diserahkan / 3 pihak", k_ended: "Berakhir", k_disposition: "Klasifikasi",
  k_callback: "Panggil balik", k_recording: "Rekaman", k_hold: "Penahanan", k_unhold: "Penahanan dicabut",
  k_played: "Diputar", k_exported: "Diekspor", k_search: "Pencarian", k_overflow: "Dialihkan",
  "k_calltaker-ended": "Operator menutup", k_refused: "Akses ditolak", k_mismatch: "HASH TIDAK COCOK",
  a_played: "Mendengarkan", a_exported: "Mengekspor", a_hold: "Menahan", a_unhold: "Mencabut penahanan",
  a_refused: "Ditolak", a_mismatch: "Hash rekaman TIDAK cocok",
});
Object.assign(WORDS.en, {
  searchTitle: "Find a call", timelineTitle: "Call timeline", toWallboard: "Wallboard",
  backToSearch: "‹ Find a call", search: "Search", clear: "Clear", any: "Any", yes: "Yes", no: "No",
  f_caller: "Caller's number", f_since: "From", f_until: "To", f_calltaker: "Call-taker",
  f_outcome: "Outcome", f_disposition: "Disposition", f_tag: "Tag", f_fallback: "Fallback queue",
  f_perPage: "Per page", callerHint: "0812… or +62812… (a prefix will do)", calltakerHint: "e.g. 1001",
  tzNote: "Times in the centre's time zone.", csv: "Download CSV", started: "Started",
  calltaker: "Call-taker", waitS: "Wait", talkS: "Talk", prev: "‹ Previous", next: "Next ›",
  page: "Page", of: "of", found: "calls found", noneFound: "No call matches",
  searching: "Searching…", sentAs: "sent as", hasRecording: "Yes", held: "ON HOLD",
  fallbackTag: "fallback", callFacts: "Call summary", endedAt: "Ended", callerSent: "Number as sent",
  noRecording: "No recording for this call.", durationS: "Duration", sha256: "SHA-256",
  sealed: "Sealed", notSealed: "NOT sealed", expires: "Deleted automatically on", neverExpires: "—",
  hold: "Legal hold", unhold: "Lift the hold", holdState: "Legal hold", notHeld: "Not held",
  heldNoExpiry: "kept while held", export: "Export evidence bundle",
  exportReason: "Reason for the export (required), e.g. police request no. …", holdReason: "Reason for the hold or its lifting (required)",
  exported: "Evidence bundle downloaded", heldDone: "Call put on hold", unheldDone: "Hold lifted",
  events: "Events in order", at: "Time", kind: "Event", detail: "Detail", by: "By",
  access: "Who listened or exported", action: "Action", noAccess: "Never played or exported.",
  integrity: "WARNING: the recording does not match its SHA-256 in the journal and is not played. An alarm was raised",
  playFailed: "The recording cannot be played", notFound: "No such call",
  forbidden: "You may not see this call", noCallId: "No call id in this address",
  k_entered: "Entered", k_screened: "Screening", k_offered: "Offered", k_missed: "Missed",
  k_answered: "Answered", k_handoff: "Hand-off / three-way", k_ended: "Ended", k_disposition: "Disposition",
  k_callback: "Callback", k_recording: "Recording", k_hold: "Hold", k_unhold: "Hold lifted",
  k_played: "Played", k_exported: "Exported", k_search: "Search", k_overflow: "Overflowed",
  "k_calltaker-ended": "Call-taker hung up", k_refused: "Access refused", k_mismatch: "HASH MISMATCH",
  a_played: "Listened", a_exported: "Exported", a_hold: "Put on hold", a_unhold: "Lifted the hold",
  a_refused: "Refused", a_mismatch: "Recording's hash did NOT match",
});

//: Indonesia's zones by their offset; any other offset is shown as UTC±hh:mm.
const ZONES = { "+07:00": "WIB", "+08:00": "WITA", "+09:00": "WIT" };
const ISO = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/;

// "07 Des 2026, 19.38.29 WIB": the wall-clock time the API sent, in its own offset, id-ID. A
// time without an offset (the search form's) is the centre's already and gets no zone's name.
function when(iso) {
  if (!iso) return "—";
  const m = ISO.exec(iso);
  if (!m) return iso;
  let offset = m[3] === "Z" ? "+00:00" : m[3] || "";
  if (offset.length === 5) offset = `${offset.slice(0, 3)}:${offset.slice(3)}`;
  const time = m[2].length === 5 ? `${m[2]}:00` : m[2];
  const wall = new Date(`${m[1]}T${time}Z`);
  const text = new Intl.DateTimeFormat(cg.lang === "en" ? "en-GB" : "id-ID", {
    timeZone: "UTC", day: "2-digit", month: "short", year: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  }).format(wall);
  return offset ? `${text} ${ZONES[offset] || `UTC${offset}`}` : text;
}

// Seconds as m:ss (h:mm:ss past an hour), or a dash for a call that had none.
function seconds(value) {
  return value === null || value === undefined ? "—" : duration(value);
}

// A word for a value the daemon sends (an outcome, a kind), or the value itself.
function wordFor(prefix, value) {
  if (value === null || value === undefined || value === "") return "—";
  const key = `${prefix}${value}`;
  return t(key) === key ? String(value) : t(key);
}

function tagList(tags) {
  return (tags || []).map((tag) => el("span", { class: `tag tag-${tag}` }, wordFor("t_", tag)));
}

function canAct() {
  return cg.who && (cg.who.role === "supervisor" || cg.who.role === "admin");
}

function errorText(answer) {
  return `${t("refused")}: ${(answer.body && answer.body.error) || answer.status}`;
}
