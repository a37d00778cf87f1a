// callgate's pages: the words (Bahasa Indonesia first, English as a switch), the API with the
// session's CSRF token, log-in, and the live stream with backoff and the "stale since" banner.
// Plain JavaScript, no build step, nothing from outside this site. Every URL is relative, so
// the pages work behind a reverse proxy under a path of its own.
"use strict";

const WORDS = {
  id: {
    wallboard: "Papan Pantau 112", screen: "Layar Operator 112",
    name: "Nama pengguna", password: "Kata sandi", login: "Masuk", logout: "Keluar",
    loginFailed: "Nama atau kata sandi salah", tooMany: "Terlalu banyak percobaan, coba lagi nanti",
    stale: "data lama sejak", connecting: "menyambung…", live: "langsung",
    waiting: "Penelepon menunggu", calltakers: "Operator", today: "Hari ini", alarms: "Alarm",
    pos: "No.", caller: "Penelepon", cls: "Kelas", tags: "Tanda", wait: "Menunggu", state: "Status",
    agent: "Operator", since: "Lamanya", pauseReason: "Alasan jeda", handled: "Ditangani",
    actions: "Tindakan", pause: "Jeda", unpause: "Lanjut", noneWaiting: "Tidak ada yang menunggu",
    longest: "Tunggu terlama", calls: "Panggilan", answered: "Dijawab", within15: "≤ 15 dtk",
    within20: "≤ 20 dtk", abandoned: "Putus sebelum dijawab", callbacksOpen: "Panggil balik terbuka",
    nuisance: "Iseng", ghost: "Diam/kosong", fallback: "Antrean cadangan", allGood: "Semua normal",
    down: "mati sejak", degraded: "terganggu sejak", sinceUnknown: "waktu tidak diketahui", block: "Blokir", unblock: "Buka blokir",
    number: "Nomor", hours: "Jam", reason: "Alasan", disposition: "Klasifikasi", set: "Simpan",
    done: "Tersimpan", refused: "Ditolak", noCall: "Tidak ada panggilan", ringing: "Berdering",
    connected: "Tersambung", history: "Riwayat penelepon", noHistory: "Belum ada riwayat",
    score: "Skor gangguan", callbackOpen: "Panggil balik terbuka", recording: "Rekaman",
    lastCall: "Panggilan terakhir", myState: "Status saya", blocks: "Blokir & buka blokir",
    shiftSince: "sejak", role: "Peran",
    recent: "Panggilan yang baru selesai", ended: "Selesai", outcome: "Hasil", answeredBy: "Dijawab oleh",
    callback: "Panggil balik", callbackRequested: "Panggil balik diminta",
    noTask: "dicatat, tanpa tugas panggil balik (tanpa nomor, atau panggil balik tidak aktif)",
    fallbackWaiting: "Penelepon di antrean cadangan", recordingsFailed: "Rekaman gagal hari ini",
    last: "terakhir", longestWait: "terlama",
    rec_ready: "Tersimpan", rec_unsealed: "Tersimpan, belum tersegel", rec_failed: "GAGAL",
    rec_none: "—",
    agencies: "Instansi", "m_three-way": "3 pihak", "m_hand-off": "Serahkan", calling: "Memanggil",
    shift: "Sif", loggedIn: "bertugas", shortHanded: "KURANG OPERATOR", outOfHours: "Di luar jam layanan",
    o_COMPLETED: "Selesai", o_ABANDONED: "Putus sebelum dijawab", o_OVERFLOWED: "Dialihkan", o_FALLBACK: "Antrean cadangan",
    st_AVAILABLE: "Siap", st_RINGING: "Berdering", st_ON_CALL: "Melayani panggilan", st_WRAP_UP: "Pascapanggilan",
    st_PAUSED: "Jeda", st_LOGGED_OUT: "Tidak bertugas", st_QUEUED: "Dalam antrean", st_OFFERED: "Ditawarkan",
    st_ARRIVED: "Panggilan baru", st_CONNECTING: "Menyambungkan", st_CONNECTED: "Tersambung",
    st_OVERFLOWING: "Dialihkan",
    d_genuine: "Darurat nyata", d_information: "Informasi", d_prank: "Iseng", d_ghost: "Diam/kosong",
    d_test: "Uji coba", "d_wrong-number": "Salah sambung",
    t_silent: "diam", t_key: "tekan tombol", t_callback: "panggil balik",
    // Screening's tag words ("PRANK x2", "ANON"), the caller's category, the roles, the
    // daemon's components and the pause reasons of [agi] pause_reasons: sent by the server
    // in English, shown by these keys (an unknown one is shown as sent).
    tw_PRANK: "ISENG", tw_GHOST: "DIAM", tw_ANON: "ANONIM", tw_NUISANCE: "GANGGUAN",
    "cat_repeat-nuisance": "iseng berulang", cat_anonymous: "nomor tersembunyi", cat_blocked: "diblokir",
    priority: "Prioritas",
    "r_call-taker": "operator", r_supervisor: "penyelia", r_admin: "administrator", r_display: "layar dinding",
    r_cad: "CAD",
    c_ari: "Asterisk (ARI)", c_ami: "Asterisk (AMI)", c_database: "basis data", c_mqtt: "MQTT (CAD)",
    p_break: "Istirahat", p_prayer: "Salat", p_toilet: "Ke toilet", p_meal: "Makan",
    p_training: "Pelatihan", p_admin: "Administrasi", p_debrief: "Evaluasi pascakejadian",
    p_unspecified: "Tanpa alasan",
  },
  en: {
    wallboard: "112 Wallboard", screen: "112 Call-taker's screen",
    name: "User name", password: "Password", login: "Log in", logout: "Log out",
    loginFailed: "Wrong name or password", tooMany: "Too many attempts, try again later",
    stale: "stale since", connecting: "connecting…", live: "live",
    waiting: "Waiting callers", calltakers: "Call-takers", today: "Today", alarms: "Alarms",
    pos: "#", caller: "Caller", cls: "Class", tags: "Tags", wait: "Waiting", state: "State",
    agent: "Call-taker", since: "For", pauseReason: "Pause reason", handled: "Handled",
    actions: "Actions", pause: "Pause", unpause: "Unpause", noneWaiting: "Nobody waiting",
    longest: "Longest wait", calls: "Calls", answered: "Answered", within15: "≤ 15 s",
    within20: "≤ 20 s", abandoned: "Abandoned", callbacksOpen: "Callbacks open",
    nuisance: "Nuisance", ghost: "Silent/ghost", fallback: "Fallback queue", allGood: "All normal",
    down: "down since", degraded: "degraded since", sinceUnknown: "unknown time", block: "Block", unblock: "Unblock",
    number: "Number", hours: "Hours", reason: "Reason", disposition: "Disposition", set: "Set",
    done: "Saved", refused: "Refused", noCall: "No call", ringing: "Ringing",
    connected: "Connected", history: "Caller's history", noHistory: "No earlier calls",
    score: "Nuisance score", callbackOpen: "Callback open", recording: "Recording",
    lastCall: "Last call", myState: "My state", blocks: "Block & unblock",
    shiftSince: "since", role: "Role",
    recent: "Recently ended calls", ended: "Ended", outcome: "Outcome", answeredBy: "Answered by",
    callback: "Call back", callbackRequested: "Callback requested",
    noTask: "noted, but no callback task (no number, or callbacks are off)",
    fallbackWaiting: "Callers in the fallback queue", recordingsFailed: "Recordings failed today",
    last: "last", longestWait: "longest",
    rec_ready: "Stored", rec_unsealed: "Stored, not sealed", rec_failed: "FAILED",
    rec_none: "—",
    agencies: "Agencies", "m_three-way": "Three-way", "m_hand-off": "Hand off", calling: "Calling",
    shift: "Shift", loggedIn: "logged in", shortHanded: "SHORT-HANDED", outOfHours: "Out of hours",
    o_COMPLETED: "Completed", o_ABANDONED: "Abandoned", o_OVERFLOWED: "Overflowed", o_FALLBACK: "Fallback queue",
    st_AVAILABLE: "Ready", st_RINGING: "Ringing", st_ON_CALL: "On a call", st_WRAP_UP: "Wrap-up",
    st_PAUSED: "Paused", st_LOGGED_OUT: "Logged out", st_QUEUED: "Queued", st_OFFERED: "Offered",
    st_ARRIVED: "Arrived", st_CONNECTING: "Connecting", st_CONNECTED: "Connected",
    st_OVERFLOWING: "Overflowing",
    d_genuine: "Genuine", d_information: "Information", d_prank: "Prank", d_ghost: "Ghost/silent",
    d_test: "Test", "d_wrong-number": "Wrong number",
    t_silent: "silent", t_key: "key pressed", t_callback: "callback",
    tw_PRANK: "PRANK", tw_GHOST: "GHOST", tw_ANON: "ANON", tw_NUISANCE: "NUISANCE",
    "cat_repeat-nuisance": "repeat nuisance", cat_anonymous: "withheld number", cat_blocked: "blocked",
    priority: "Priority",
    "r_call-taker": "call-taker", r_supervisor: "supervisor", r_admin: "admin", r_display: "wall display",
    r_cad: "CAD",
    c_ari: "Asterisk (ARI)", c_ami: "Asterisk (AMI)", c_database: "database", c_mqtt: "MQTT (CAD)",
    p_break: "Break", p_prayer: "Prayer", p_toilet: "Toilet", p_meal: "Meal",
    p_training: "Training", p_admin: "Admin work", p_debrief: "Debrief",
    p_unspecified: "No reason",
  },
};
const DISPOSITIONS = ["genuine", "information", "prank", "ghost", "test", "wrong-number"];
// The reasons of [agi] pause_reasons' default, in digit order; a page that has asked the API
// (GET api/screen) uses the configured list instead.
const PAUSE_REASONS = ["break", "prayer", "toilet", "meal", "training", "admin", "debrief"];

const cg = {
  lang: localStorage.getItem("callgate-lang") || "id",
  who: null, // {name, role, agent_id, csrf_token}
  offset: 0, // daemon's clock minus this browser's (seconds)
  seen: {}, // call_id -> when its first message arrived here (ms since the epoch)
  zone: undefined, // the centre's IANA time zone once a page has learnt it; the browser's until then
};
window.callgateSeen = cg.seen;

// A page adds its own words here (each page's script, at load), so pages do not all edit one
// dictionary: addWords({id: {...}, en: {...}}); a key a page adds wins over the shared one.
function addWords(more) {
  for (const lang of Object.keys(more)) Object.assign(WORDS[lang] || (WORDS[lang] = {}), more[lang]);
}

function t(key) {
  return (WORDS[cg.lang] && WORDS[cg.lang][key]) || WORDS.en[key] || key;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function translate() {
  document.documentElement.lang = cg.lang;
  for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
  for (const node of document.querySelectorAll("[data-tp]")) node.placeholder = t(node.dataset.tp);
  const user = document.getElementById("user");
  if (user && cg.who) user.textContent = `${cg.who.name} (${word("r_", cg.who.role)})`;
}

function now() {
  return Date.now() / 1000 + cg.offset;
}

// Indonesian dates and numbers (id-ID: 16.05.03, 7 Des 2026, 1.234,5) in the centre's zone;
// English as the switch.
function locale() {
  return cg.lang === "en" ? "en-GB" : "id-ID";
}

function clock(epoch) {
  return new Date(epoch * 1000).toLocaleTimeString(locale(), { hour12: false, timeZone: cg.zone });
}

function dateTime(epoch) {
  return new Date(epoch * 1000).toLocaleString(locale(), {
    day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
    hour12: false, timeZone: cg.zone,
  });
}

function number(value, digits) {
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits || 0 }).format(value);
}

// A word the server sends (a pause reason, a role, a class): its translation under prefix,
// or the word as sent when the page has none.
function word(prefix, value) {
  const key = `${prefix}${value}`;
  const found = t(key);
  return found === key ? value : found;
}

function reasonName(reason) {
  return word("p_", reason);
}

// Screening's tag ("PRANK x2 GHOST x1", "ANON"): each word translated, counts as "×2".
function tagText(tag) {
  return String(tag).split(" ").map((w) => (/^x\d+$/.test(w) ? `×${w.slice(1)}` : word("tw_", w))).join(" ");
}

function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const m = Math.floor(s / 60);
  return m >= 60 ? `${Math.floor(m / 60)}:${String(m % 60).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`
    : `${m}:${String(s % 60).padStart(2, "0")}`;
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && cg.who) headers["X-CSRF-Token"] = cg.who.csrf_token;
  const response = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let answer = {};
  try { answer = await response.json(); } catch (_) { /* not JSON */ }
  return { status: response.status, ok: response.ok, body: answer };
}

function flash(text, bad) {
  const box = document.getElementById("flash");
  box.textContent = text;
  box.className = bad ? "flash bad" : "flash";
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => { box.textContent = ""; box.className = "flash"; }, 6000);
}

function setupChrome(onLogin) {
  document.getElementById("lang").addEventListener("click", () => {
    cg.lang = cg.lang === "id" ? "en" : "id";
    localStorage.setItem("callgate-lang", cg.lang);
    translate();
    document.dispatchEvent(new Event("callgate-lang"));
  });
  document.getElementById("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.target;
    const answer = await api("POST", "api/session", {
      name: form.elements.name.value, password: form.elements.password.value,
    });
    form.elements.password.value = "";
    if (!answer.ok) {
      document.getElementById("login-error").textContent = t(answer.status === 429 ? "tooMany" : "loginFailed");
      return;
    }
    document.getElementById("login-error").textContent = "";
    loggedIn(answer.body, onLogin);
  });
  document.getElementById("logout").addEventListener("click", async () => {
    await api("DELETE", "api/session");
    location.reload();
  });
  translate();
  // Who is logged in; a daemon not up yet (a wall PC booting first) or a journal failing over
  // (503) is asked again, 1 s doubling to 30 s, so the page comes back by itself.
  let delay = 1000;
  const ask = () => api("GET", "api/session").then((answer) => {
    if (answer.ok) loggedIn(answer.body, onLogin);
    else if (answer.status >= 500) retry();
  }, retry);
  const retry = () => { setTimeout(ask, delay); delay = Math.min(delay * 2, 30000); };
  ask();
}

function loggedIn(who, onLogin) {
  cg.who = who;
  document.body.classList.add("in");
  document.body.dataset.role = who.role;
  document.getElementById("user").textContent = `${who.name} (${word("r_", who.role)})`;
  onLogin(who);
}

// The live stream: EventSource reconnects by itself; on top of it a growing pause between
// attempts (1 s doubling to 30 s) and the banner saying since when the data is stale.
function connectLive(onMessage) {
  let delay = 1000;
  let staleSince = null;
  const banner = document.getElementById("stale");
  const open = () => {
    const source = new EventSource("api/live");
    source.onopen = () => { delay = 1000; };
    source.onmessage = (event) => {
      const message = JSON.parse(event.data);
      staleSince = null;
      banner.hidden = true;
      document.body.dataset.live = "1";
      onMessage(message, Date.now());
    };
    source.onerror = () => {
      source.close();
      document.dispatchEvent(new Event("callgate-stale")); // a page may check its session
      if (staleSince === null) staleSince = Date.now();
      document.body.dataset.live = "0";
      banner.textContent = `${t("stale")} ${clock(staleSince / 1000)} — ${t("connecting")}`;
      banner.hidden = false;
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 30000);
    };
  };
  open();
}

function stateName(state) {
  return t(`st_${state}`);
}
