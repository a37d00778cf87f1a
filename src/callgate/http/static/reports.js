// The managers' reports (issue #24): a day, a shift, a month or one call-taker, read from
// GET /api/reports (the journal, the same figures as `callgate report`), shown as figures,
// charts drawn here as SVG (no library, nothing from a CDN) and tables; the same report as CSV.
// The report asked for lives in the page's address (?kind=day&day=2026-11-23), so it can be
// linked and reloaded. Each figure carries its raw number in data-value (tests compare those).
"use strict";

addWords({
  id: {
    r_title: "Laporan pusat panggilan 112", r_toWallboard: "Papan Pantau", r_kind: "Laporan",
    r_k_day: "Harian", r_k_shift: "Per shift", r_k_month: "Bulanan", r_k_calltaker: "Per operator",
    r_day: "Tanggal", r_month: "Bulan", r_shift: "Shift", r_agent: "Operator", r_span: "Rentang",
    r_show: "Tampilkan", r_csv: "Unduh CSV", r_loading: "Memuat laporan…",
    r_zone: "Semua waktu menurut zona waktu pusat panggilan:", r_forbidden: "Laporan hanya untuk supervisor dan admin.",
    r_failed: "Laporan tidak dapat dimuat", r_period: "Periode", r_to: "s.d.",
    r_received: "Panggilan masuk", r_offered: "Panggilan selesai", r_answered: "Dijawab operator",
    r_within15: "Dijawab ≤ 15 detik", r_within20: "Dijawab ≤ 20 detik", r_abandoned: "Penelepon menutup sebelum dijawab",
    r_callbacks: "Tugas panggil balik", r_prankGhost: "Iseng atau diam", r_fallback: "Masuk antrean cadangan",
    r_overflowed: "Dialihkan ke luar", r_inProgress: "Masih berlangsung", r_p90: "Waktu jawab p90 (detik)",
    r_ofOffered: "dari panggilan selesai", r_target: "target", r_met: "tercapai", r_notMet: "TIDAK tercapai",
    r_answerTimes: "Sebaran waktu jawab", r_perHour: "Panggilan per jam", r_calls: "panggilan",
    r_fast: "dijawab ≤ 15 dtk", r_ok: "15–20 dtk", r_late: "> 20 dtk", r_none: "tidak dijawab operator",
    r_hour: "Jam", r_dispositions: "Klasifikasi panggilan", r_name: "Jenis", r_share: "Porsi",
    r_notes: "Catatan", r_handled: "Panggilan dijawab", r_cbCalls: "Panggil balik dilakukan",
    r_talk: "Waktu bicara", r_meanTalk: "Rata-rata bicara", r_loggedIn: "Waktu bertugas",
    r_paused: "Waktu jeda", r_occupancy: "Tingkat kesibukan", r_missed: "Dering tak diangkat",
    r_pauses: "Jeda menurut alasan", r_reason: "Alasan", r_count: "Kali", r_time: "Lama",
    r_shifts: "Per shift", r_perShift: "Panggilan dijawab per shift", r_noData: "Tidak ada data pada periode ini.",
    r_none_: "—", "r_d_genuine": "Darurat nyata", "r_d_information": "Informasi", "r_d_prank": "Iseng",
    "r_d_ghost": "Diam / tanpa suara", "r_d_test": "Uji coba", "r_d_wrong-number": "Salah sambung",
    "r_d_undisposed": "Belum diklasifikasi", r_h_day: "Laporan harian", r_h_shift: "Laporan shift",
    r_h_month: "Laporan bulanan", r_h_calltaker: "Laporan operator",
    r_noteUnknown: "panggilan dijawab tanpa waktu jawab (diambil alih setelah callgate dimulai ulang): dihitung tidak tepat waktu",
    r_noteNoCallbacks: "jurnal ini belum mencatat panggil balik (skema lebih tua dari 0003)",
    r_noteOpen: "periode belum berakhir: sesi, jeda dan panggilan yang masih berjalan dihitung sampai sekarang",
  },
  en: {
    r_title: "112 centre reports", r_toWallboard: "Wallboard", r_kind: "Report",
    r_k_day: "Day", r_k_shift: "Shift", r_k_month: "Month", r_k_calltaker: "Call-taker",
    r_day: "Date", r_month: "Month", r_shift: "Shift", r_agent: "Call-taker", r_span: "Span",
    r_show: "Show", r_csv: "Download CSV", r_loading: "Loading the report…",
    r_zone: "All times in the centre's time zone:", r_forbidden: "Reports are for supervisors and admins only.",
    r_failed: "The report cannot be loaded", r_period: "Period", r_to: "to",
    r_received: "Calls received", r_offered: "Calls ended", r_answered: "Answered by a call-taker",
    r_within15: "Answered ≤ 15 s", r_within20: "Answered ≤ 20 s", r_abandoned: "Caller hung up before an answer",
    r_callbacks: "Callback tasks", r_prankGhost: "Prank or silent", r_fallback: "Into the fallback queue",
    r_overflowed: "Overflowed", r_inProgress: "Still in progress", r_p90: "Answer time p90 (s)",
    r_ofOffered: "of calls ended", r_target: "target", r_met: "met", r_notMet: "NOT met",
    r_answerTimes: "Answer times", r_perHour: "Calls per hour", r_calls: "calls",
    r_fast: "answered ≤ 15 s", r_ok: "15–20 s", r_late: "> 20 s", r_none: "not answered by a call-taker",
    r_hour: "Hour", r_dispositions: "Calls by disposition", r_name: "Kind", r_share: "Share",
    r_notes: "Notes", r_handled: "Calls answered", r_cbCalls: "Callbacks made",
    r_talk: "Talk time", r_meanTalk: "Mean talk", r_loggedIn: "Logged in",
    r_paused: "Paused", r_occupancy: "Occupancy", r_missed: "Missed rings",
    r_pauses: "Pauses by reason", r_reason: "Reason", r_count: "Times", r_time: "Time",
    r_shifts: "By shift", r_perShift: "Calls answered per shift", r_noData: "No data in this period.",
    r_none_: "—", "r_d_genuine": "Genuine emergency", "r_d_information": "Information", "r_d_prank": "Prank",
    "r_d_ghost": "Silent", "r_d_test": "Test", "r_d_wrong-number": "Wrong number",
    "r_d_undisposed": "Not classified", r_h_day: "Day report", r_h_shift: "Shift report",
    r_h_month: "Month report", r_h_calltaker: "Call-taker report",
    r_noteUnknown: "call(s) answered with no answer time (adopted after a restart): counted as not answered in time",
    r_noteNoCallbacks: "this journal records no callbacks (schema older than 0003)",
    r_noteOpen: "the period is not over: open sessions, pauses and calls count until now",
  },
});

const report = { options: null, last: null };
const SVG = "http://www.w3.org/2000/svg";

function form() {
  return document.getElementById("report-form");
}

function locale() {
  return cg.lang === "id" ? "id-ID" : "en-GB";
}

function number(value, digits) {
  if (value === null || value === undefined) return t("r_none_");
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits || 0, minimumFractionDigits: digits || 0 }).format(value);
}

function percent(value) {
  return value === null || value === undefined ? t("r_none_") : `${number(value, 1)}%`;
}

function hms(seconds) {
  return seconds === null || seconds === undefined ? t("r_none_") : duration(seconds);
}

// A time of the report as the centre's wall clock: the API sends ISO 8601 with its offset.
function local(iso) {
  const [day, time] = iso.split("T");
  const [y, m, d] = day.split("-").map(Number);
  const date = new Date(Date.UTC(y, m - 1, d)).toLocaleDateString(locale(), { timeZone: "UTC", day: "numeric", month: "long", year: "numeric" });
  return `${date} ${time.slice(0, 5)}`;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

// Bars of stacked series: bars = [{label, parts: [n, ...]}], colours one per part.
function barChart(id, bars, colours, title) {
  const width = 640, height = 260, left = 40, bottom = 30, top = 10;
  const max = Math.max(1, ...bars.map((b) => b.parts.reduce((a, n) => a + n, 0)));
  const step = (width - left - 10) / Math.max(1, bars.length);
  const scale = (height - top - bottom) / max;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", id, "aria-label": title });
  chart.append(svg("title", {}, title));
  chart.append(svg("line", { x1: left, y1: height - bottom, x2: width - 5, y2: height - bottom, class: "axis" }));
  chart.append(svg("text", { x: left - 6, y: top + 10, "text-anchor": "end" }, number(max)));
  chart.append(svg("text", { x: left - 6, y: height - bottom, "text-anchor": "end" }, "0"));
  bars.forEach((bar, i) => {
    let y = height - bottom;
    const x = left + i * step + step * 0.1;
    bar.parts.forEach((n, k) => {
      if (!n) return;
      const h = n * scale;
      y -= h;
      chart.append(svg("rect", { x, y, width: step * 0.8, height: h, fill: colours[k], "data-value": n },
        svg("title", {}, `${bar.label}: ${number(n)}`)));
    });
    if (bars.length <= 24 || i % 2 === 0) {
      chart.append(svg("text", { x: x + step * 0.4, y: height - bottom + 16, "text-anchor": "middle" }, bar.label));
    }
  });
  return chart;
}

function legend(items) {
  return el("div", { class: "legend" }, items.map(([cls, key]) => el("span", {}, el("span", { class: `swatch ${cls}` }), t(key))));
}

function figure(key, value, text, share, cls) {
  return el("div", { class: `figure ${cls || ""}`, "data-figure": key, "data-value": value === null ? "" : value },
    el("span", { class: "muted" }, t(`r_${key}`)), el("span", { class: "value" }, text), share ? el("span", { class: "share" }, share) : null);
}

function table(headers, rows) {
  return el("table", {},
    el("thead", {}, el("tr", {}, headers.map(([key, num]) => el("th", { class: num ? "num" : null }, t(key))))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map(([value, num]) => el("td", { class: num ? "num" : null }, value))))));
}

// The report's notes in the page's words, from its figures (the API's notes are the command's
// English sentences).
function notes(body) {
  const out = [];
  if (body.summary && body.summary.answered_time_unknown) out.push(`${number(body.summary.answered_time_unknown)} ${t("r_noteUnknown")}`);
  if (body.callbacks && !body.callbacks.available) out.push(t("r_noteNoCallbacks"));
  if (body.open) out.push(t("r_noteOpen"));
  return out;
}

function heading(body) {
  const more = notes(body);
  return el("section", {}, el("h2", { id: "period" }, `${t(`r_h_${body.kind}`)}${body.calltaker ? ` ${body.calltaker}` : ""}`),
    el("p", {}, `${t("r_period")}: ${local(body.start)} ${t("r_to")} ${local(body.end)} (${body.zone})`),
    more.length ? el("p", { class: "muted", id: "notes" }, `${t("r_notes")}: ${more.join("; ")}`) : null);
}

function nena(s, seconds) {
  const met = s[`nena_${seconds}_met`];
  const target = `${t("r_target")} ${number(s[`nena_${seconds}_target`])}%`;
  const verdict = met === null ? "" : ` — ${t(met ? "r_met" : "r_notMet")}`;
  return { share: `${percent(s[`within_${seconds}_pct`])} ${t("r_ofOffered")} (${target}${verdict})`, cls: met === null ? "" : met ? "good" : "bad" };
}

function renderCalls(body) {
  const s = body.summary;
  const n15 = nena(s, 15), n20 = nena(s, 20);
  const figures = el("section", {}, el("div", { class: "figures", id: "figures" },
    figure("received", s.received, number(s.received)),
    figure("offered", s.offered, number(s.offered)),
    figure("answered", s.answered, number(s.answered), percent(s.answered_pct)),
    figure("within15", s.within_15, number(s.within_15), n15.share, n15.cls),
    figure("within20", s.within_20, number(s.within_20), n20.share, n20.cls),
    figure("abandoned", s.abandoned, number(s.abandoned), percent(s.abandoned_pct)),
    figure("callbacks", s.callbacks, number(s.callbacks)),
    figure("prankGhost", s.prank_ghost, number(s.prank_ghost), percent(s.prank_ghost_pct)),
    figure("fallback", s.fallback, number(s.fallback)),
    figure("overflowed", s.overflowed, number(s.overflowed)),
    figure("inProgress", s.in_progress, number(s.in_progress)),
    figure("p90", s.answer_p90, number(s.answer_p90, 1))));
  const colours = ["#2e7d32", "#f9a825", "#ef6c00", "#9e9e9e"];
  const hours = body.hours.map((h) => ({ label: String(h.hour).padStart(2, "0"),
    parts: [h.within_15, h.within_20 - h.within_15, h.answered - h.within_20, h.offered - h.answered] }));
  const times = body.answer_times.map((b) => ({ label: b.label.replace(" s", ""), parts: [b.calls] }));
  const charts = el("section", { class: "charts" },
    el("div", { class: "chart" }, el("h3", {}, t("r_perHour")), barChart("chart-hours", hours, colours, t("r_perHour")),
      legend([["swatch-fast", "r_fast"], ["swatch-ok", "r_ok"], ["swatch-late", "r_late"], ["swatch-none", "r_none"]])),
    el("div", { class: "chart" }, el("h3", {}, `${t("r_answerTimes")} (${t("r_calls")})`),
      barChart("chart-answer-times", times, ["#4db8ff"], t("r_answerTimes"))));
  const hourTable = table([["r_hour"], ["r_offered", 1], ["r_answered", 1], ["r_within15", 1], ["r_within20", 1], ["r_abandoned", 1], ["r_p90", 1]],
    body.hours.map((h) => [[`${String(h.hour).padStart(2, "0")}:00`], [number(h.offered), 1], [number(h.answered), 1],
      [number(h.within_15), 1], [number(h.within_20), 1], [number(h.abandoned), 1], [number(h.p90, 1), 1]]));
  hourTable.id = "hours";
  const dispositions = table([["r_name"], ["r_calls", 1], ["r_share", 1]],
    body.dispositions.map((d) => [[t(`r_d_${d.name}`)], [number(d.calls), 1], [percent(s.offered ? (100 * d.calls) / s.offered : null), 1]]));
  dispositions.id = "dispositions";
  return [figures, charts,
    el("section", {}, el("h3", {}, t("r_perHour")), hourTable),
    el("section", {}, el("h3", {}, t("r_dispositions")), dispositions)];
}

function renderCalltaker(body) {
  const f = body.figures;
  const figures = el("section", {}, el("div", { class: "figures", id: "figures" },
    figure("handled", f.handled, number(f.handled)),
    figure("cbCalls", f.callbacks, number(f.callbacks)),
    figure("talk", f.talk_s, hms(f.talk_s)),
    figure("meanTalk", f.mean_talk_s, hms(f.mean_talk_s)),
    figure("loggedIn", f.logged_in_s, hms(f.logged_in_s)),
    figure("paused", f.paused_s, hms(f.paused_s)),
    figure("occupancy", f.occupancy_pct, percent(f.occupancy_pct)),
    figure("missed", f.missed_rings, number(f.missed_rings))));
  const pauses = table([["r_reason"], ["r_count", 1], ["r_time", 1]],
    f.pauses.map((p) => [[p.reason], [number(p.count), 1], [hms(p.seconds), 1]]));
  const shifts = table([["r_day"], ["r_shift"], ["r_handled", 1], ["r_talk", 1], ["r_loggedIn", 1], ["r_paused", 1], ["r_occupancy", 1]],
    body.shifts.map((s) => [[s.day], [s.shift], [number(s.figures.handled), 1], [hms(s.figures.talk_s), 1],
      [hms(s.figures.logged_in_s), 1], [hms(s.figures.paused_s), 1], [percent(s.figures.occupancy_pct), 1]]));
  shifts.id = "shifts";
  const bars = body.shifts.map((s) => ({ label: `${s.day.slice(5)} ${s.shift}`, parts: [s.figures.handled] }));
  return [figures,
    el("section", { class: "chart" }, el("h3", {}, t("r_perShift")), barChart("chart-shifts", bars, ["#4db8ff"], t("r_perShift"))),
    el("section", {}, el("h3", {}, t("r_shifts")), body.shifts.length ? shifts : el("p", { class: "muted" }, t("r_noData"))),
    el("section", {}, el("h3", {}, t("r_pauses")), f.pauses.length ? pauses : el("p", { class: "muted" }, t("r_noData")))];
}

function render(body) {
  const out = document.getElementById("report");
  out.replaceChildren(heading(body), ...(body.kind === "calltaker" ? renderCalltaker(body) : renderCalls(body)));
}

// The query of the form, only with what its kind needs.
function query() {
  const f = form().elements;
  const params = new URLSearchParams({ kind: f.kind.value });
  const monthly = f.kind.value === "month" || (f.kind.value === "calltaker" && f.span.value === "month");
  if (monthly) params.set("month", f.month.value);
  else params.set("day", f.day.value);
  if (f.kind.value === "shift") params.set("shift", f.shift.value);
  if (f.kind.value === "calltaker") params.set("agent", f.agent.value.trim());
  return params;
}

function showFields() {
  const f = form().elements;
  const kind = f.kind.value;
  const monthly = kind === "month" || (kind === "calltaker" && f.span.value === "month");
  const shown = { day: !monthly, month: monthly, shift: kind === "shift", agent: kind === "calltaker", span: kind === "calltaker" };
  for (const label of form().querySelectorAll("label[data-for]")) label.hidden = !shown[label.dataset.for];
}

async function load() {
  const params = query();
  history.replaceState(null, "", `?${params}`);
  document.body.dataset.ready = "0";
  document.getElementById("report").replaceChildren(el("p", { class: "muted" }, t("r_loading")));
  const answer = await api("GET", `api/reports?${params}`);
  const link = document.getElementById("csv");
  if (!answer.ok) {
    const why = answer.status === 403 ? t("r_forbidden") : `${t("r_failed")}: ${answer.body.error || answer.status}`;
    document.getElementById("report").replaceChildren(el("p", { class: "bad", id: "error" }, why));
    link.hidden = true;
  } else {
    report.last = answer.body;
    render(answer.body);
    const csv = new URLSearchParams(params);
    csv.set("format", "csv");
    link.href = `api/reports?${csv}`;
    link.hidden = false;
  }
  document.body.dataset.ready = "1";
}

// The form from the address (a report linked or reloaded), else today's day report.
function fromAddress(options) {
  const f = form().elements;
  const params = new URLSearchParams(location.search);
  f.day.value = params.get("day") || options.today;
  f.month.value = params.get("month") || options.today.slice(0, 7);
  if (["day", "shift", "month", "calltaker"].includes(params.get("kind"))) f.kind.value = params.get("kind");
  if (params.get("shift")) f.shift.value = params.get("shift");
  if (params.get("agent")) f.agent.value = params.get("agent");
  if (params.get("kind") === "calltaker" && params.get("month")) f.span.value = "month";
}

async function start() {
  const answer = await api("GET", "api/reports/options");
  if (!answer.ok) {
    document.getElementById("report").replaceChildren(el("p", { class: "bad", id: "error" },
      answer.status === 403 ? t("r_forbidden") : `${t("r_failed")}: ${answer.status}`));
    document.body.dataset.ready = "1";
    return;
  }
  const options = answer.body;
  report.options = options;
  form().elements.shift.replaceChildren(...options.shifts.map((s) => el("option", { value: s.name }, `${s.name} ${s.start}–${s.end}`)));
  document.getElementById("calltakers").replaceChildren(...options.calltakers.map((id) => el("option", { value: id })));
  document.getElementById("zone-note").textContent = `${t("r_zone")} ${options.zone}`;
  fromAddress(options);
  showFields();
  await load();
}

document.addEventListener("DOMContentLoaded", () => {
  setupChrome(() => start());
  form().addEventListener("change", showFields);
  form().addEventListener("submit", (e) => { e.preventDefault(); load(); });
  document.addEventListener("callgate-lang", () => {
    if (report.options) document.getElementById("zone-note").textContent = `${t("r_zone")} ${report.options.zone}`;
    if (report.last) render(report.last);
  });
});
