// The wallboard: waiting callers, connected calls, call-takers by name (phone registered or
// not, state and time in it), today's and this shift's figures (the journal's, in the centre's
// time zone), alarms, an optional sound alert, and the supervisor's actions (each through the
// admin API with the session's CSRF token, so the audit trail names the logged-in user).
// The marks and the sound come from the config ([wallboard]) in the live feed's snapshot.
"use strict";

addWords({
  id: {
    callsToday: "Panggilan hari ini", connectedCalls: "Panggilan tersambung", talking: "Bicara",
    waited: "Tunggu", phone: "Telepon", registered: "terdaftar", unregistered: "tidak terdaftar",
    unknownPhone: "belum diketahui", withinMark: "dijawab ≤ {s} dtk", thisShift: "sif {name}",
    countingSince: "dihitung sejak {time}", soundOn: "Suara: aktif", soundOff: "Suara: klik untuk aktifkan",
    connectedShort: "tersambung",
    // What the daemon answered a supervisor's command (its result words, sent in English).
    ac_OK: "berhasil", ac_ALREADY: "sudah begitu", ac_REFUSED: "tidak bisa sekarang",
    ac_UNKNOWN: "operator tidak dikenal",
    bk_ok: "berhasil", "bk_not-blocked": "nomor itu tidak diblokir", bk_invalid: "tidak sah",
    "bk_blocking-disabled": "pemblokiran tidak aktif", bk_unavailable: "tidak tersedia sekarang",
  },
  en: {
    callsToday: "Calls today", connectedCalls: "Connected calls", talking: "Talking",
    waited: "Waited", phone: "Phone", registered: "registered", unregistered: "not registered",
    unknownPhone: "not known yet", withinMark: "answered ≤ {s} s", thisShift: "shift {name}",
    countingSince: "counted since {time}", soundOn: "Sound: on", soundOff: "Sound: click to enable",
    connectedShort: "connected",
    ac_OK: "done", ac_ALREADY: "already so", ac_REFUSED: "not possible now",
    ac_UNKNOWN: "unknown call-taker",
    bk_ok: "done", "bk_not-blocked": "that number was not blocked", bk_invalid: "invalid",
    "bk_blocking-disabled": "blocking is off", bk_unavailable: "not available now",
  },
});

const board = {
  calls: new Map(), agents: new Map(), today: null, health: null, recent: [], shifts: [], staffed: true, alarms: null,
  settings: { marks: [15, 20], sound: false, sound_after: 30, sound_fallback: true, timezone: null },
  // [agi] pause_reasons in digit order once GET api/screen answered (a supervisor's page only).
  reasons: PAUSE_REASONS,
};
window.callgateBoard = board;
//: Recently ended calls shown to a supervisor (for a callback request).
const RECENT = 10;
//: A call still waiting (not yet talking to a call-taker).
const WAITING = ["ARRIVED", "QUEUED", "OFFERED", "OVERFLOWING", "CONNECTING"];
//: Seconds between two sound alerts while one is due.
const SOUND_EVERY = 6;

function mayAct() {
  return cg.who && (cg.who.role === "supervisor" || cg.who.role === "admin");
}

function fill(key, values) {
  return Object.entries(values).reduce((text, [k, v]) => text.replace(`{${k}}`, v), t(key));
}

function marks() {
  return board.settings.marks;
}

function onMessage(message, arrived) {
  if (message.type === "snapshot") {
    cg.offset = message.at - arrived / 1000;
    board.calls = new Map((message.calls || []).map((c) => [c.call_id, c]));
    board.agents = new Map((message.agents || []).map((a) => [a.agent_id, a]));
    board.today = message.today;
    board.shifts = message.shifts || [];
    board.staffed = message.staffed !== false;
    board.alarms = message.alarms || null;
    if (message.wallboard) board.settings = { ...board.settings, ...message.wallboard };
    // The clock and every time shown follow the centre's zone, not this PC's.
    cg.zone = board.settings.timezone || cg.zone;
    for (const id of board.calls.keys()) if (!(id in cg.seen)) cg.seen[id] = arrived;
    setupSound();
  } else if (message.type === "call") {
    board.calls.set(message.call.call_id, message.call);
    if (!(message.call.call_id in cg.seen)) cg.seen[message.call.call_id] = arrived;
  } else if (message.type === "call-ended") {
    const call = board.calls.get(message.call_id);
    board.calls.delete(message.call_id);
    if (call && message.outcome !== "ELSEWHERE") {
      ended({ call_id: call.call_id, caller: call.caller, outcome: message.outcome,
        answered_by: call.agent_id, ended_at: now() });
    }
  } else if (message.type === "agent") {
    board.agents.set(message.agent.agent_id, message.agent);
  } else if (message.type === "shifts") {
    board.shifts = message.shifts;
    board.staffed = message.staffed;
  } else if (message.type === "alarms") {
    board.alarms = message.alarms;
  } else if (message.type === "today") {
    board.today = message.today;
  }
  render();
  // Other scripts of the page (the supervisor's tools) follow the same board without a second
  // stream: they listen for this event and read window.callgateBoard.
  document.dispatchEvent(new CustomEvent("callgate-board", { detail: message }));
}

// Times as the centre reads them: its own zone (the daemon's [centre] timezone), not this PC's.
function centreTime(epoch) {
  const zone = board.settings.timezone || undefined;
  try {
    return new Date(epoch * 1000).toLocaleTimeString(cg.lang === "id" ? "id-ID" : "en-GB",
      { hour12: false, timeZone: zone });
  } catch (_) {
    return clock(epoch);
  }
}

function centreDate(epoch) {
  const zone = board.settings.timezone || undefined;
  try {
    return new Date(epoch * 1000).toLocaleDateString(cg.lang === "id" ? "id-ID" : "en-GB",
      { weekday: "long", day: "numeric", month: "long", timeZone: zone });
  } catch (_) {
    return "";
  }
}

function ended(row) {
  board.recent = [row, ...board.recent.filter((r) => r.call_id !== row.call_id)].slice(0, RECENT);
}

// The configured pause reasons, for a supervisor's picker. Only a supervisor's page asks: a
// wall screen (display) may read the board only, and the picker is not on its page.
async function loadReasons() {
  if (!mayAct()) return;
  const answer = await api("GET", "api/screen");
  if (!answer.ok) return;
  const reasons = (answer.body.pause_reasons || []).map((p) => p.reason);
  if (reasons.length) board.reasons = reasons;
  document.body.dataset.reasons = board.reasons.join(",");
}

// The journal's recent calls, once a supervisor is in: the live stream adds each call that ends.
async function loadRecent() {
  if (!mayAct()) return;
  const answer = await api("GET", `api/calls?recent=${RECENT}`);
  if (!answer.ok) return;
  const live = new Set(board.recent.map((r) => r.call_id));
  const older = (answer.body.recent || []).filter((r) => r.ended_at && !live.has(r.call_id))
    .map((r) => ({ ...r, ended_at: Date.parse(r.ended_at) / 1000 }));
  board.recent = [...board.recent, ...older].slice(0, RECENT);
  renderRecent();
}

async function requestCallback(callId) {
  const answer = await api("POST", `api/calls/${encodeURIComponent(callId)}/callback`, {});
  if (!answer.ok) {
    flash(`${t("refused")}: ${answer.body.error || answer.status}`, true);
  } else {
    flash(answer.body.task ? t("callbackRequested") : `${t("callbackRequested")}: ${t("noTask")}`, !answer.body.task);
  }
}

function agentName(agentId) {
  const a = agentId && board.agents.get(agentId);
  return (a && a.name) || agentId || "—";
}

function renderRecent() {
  const body = document.querySelector("#recent tbody");
  body.replaceChildren(...board.recent.map((r) => el("tr", { "data-call-id": r.call_id },
    el("td", { class: "mono" }, r.ended_at ? centreTime(r.ended_at) : ""),
    el("td", { class: "mono" }, r.caller || "—"),
    el("td", {}, word("o_", r.outcome)),
    el("td", {}, agentName(r.answered_by)),
    el("td", {}, mayAct() ? el("button", { type: "button", class: "small", "data-action": "callback",
      onclick: () => requestCallback(r.call_id) }, t("callback")) : ""))));
}

function waitClass(seconds) {
  return seconds >= marks()[1] ? "late" : seconds >= marks()[0] ? "warn" : "";
}

// A call's tag: the live feed's own (silent, key, callback) or screening's ("PRANK x2").
function liveTag(tag) {
  const key = `t_${tag}`;
  return t(key) === key ? tagText(tag) : t(key);
}

function tags(c) {
  return (c.tags || []).map((tag) => el("span", { class: `tag tag-${tag}` }, liveTag(tag)));
}

function dispositionPicker(callId) {
  const select = el("select", { "aria-label": t("disposition") },
    DISPOSITIONS.map((d) => el("option", { value: d }, t(`d_${d}`))));
  return el("span", { class: "row" }, select, el("button", {
    type: "button", class: "small", "data-action": "disposition",
    onclick: async () => {
      const answer = await api("POST", `api/calls/${encodeURIComponent(callId)}/disposition`,
        { disposition: select.value });
      flash(answer.ok ? t("done") : `${t("refused")}: ${answer.body.error || answer.status}`, !answer.ok);
    },
  }, t("set")));
}

function waitingCalls() {
  return [...board.calls.values()].filter((c) => WAITING.includes(c.state))
    .sort((a, b) => a.arrived_at - b.arrived_at);
}

function connectedCalls() {
  return [...board.calls.values()].filter((c) => !WAITING.includes(c.state))
    .sort((a, b) => a.arrived_at - b.arrived_at);
}

function renderCalls() {
  const waiting = waitingCalls();
  // A row being picked from (a disposition) is not rebuilt under the supervisor's hand.
  document.querySelector("#calls tbody").replaceChildren(...waiting.map((c) => {
    const waited = now() - c.arrived_at;
    const ringing = (c.ringing || []).map(agentName).join(", ");
    return el("tr", {
      class: waitClass(waited), "data-call-id": c.call_id, "data-seen-at": cg.seen[c.call_id],
      "data-state": c.state,
    },
    el("td", {}, c.position || ""),
    el("td", { class: "mono" }, c.caller || "—"),
    el("td", {}, `${c.priority} ${c.category ? word("cat_", c.category) : ""}`),
    el("td", {}, tags(c)),
    el("td", { class: "mono wait" }, duration(waited)),
    el("td", {}, stateName(c.state) + (ringing ? ` → ${ringing}` : "")));
  }));
  const talking = connectedCalls();
  const focused = document.activeElement && document.activeElement.closest("#connected");
  if (!focused) {
    document.querySelector("#connected tbody").replaceChildren(...talking.map((c) => el("tr", {
      class: "answered", "data-call-id": c.call_id, "data-seen-at": cg.seen[c.call_id], "data-state": c.state,
    },
    el("td", { class: "name" }, agentName(c.agent_id)),
    el("td", { class: "mono" }, c.caller || "—"),
    el("td", {}, tags(c)),
    el("td", { class: "mono" }, c.answered_at ? duration(now() - c.answered_at) : "—"),
    el("td", { class: "mono" }, c.answered_at ? duration(c.answered_at - c.arrived_at) : "—"),
    el("td", { class: "sup" }, mayAct() && c.agent_id ? dispositionPicker(c.call_id) : ""))));
  }
  document.getElementById("c-waiting").textContent = `(${waiting.length})`;
  document.getElementById("c-connected").textContent = `(${talking.length})`;
  document.getElementById("n-waiting").textContent = waiting.length;
  document.getElementById("s-waiting").textContent = `${t("connectedShort")}: ${talking.length}`;
  const longest = waiting.length ? Math.max(...waiting.map((c) => now() - c.arrived_at)) : null;
  document.getElementById("n-longest").textContent = longest === null ? "–" : duration(longest);
  document.getElementById("tile-longest").className = `tile ${longest === null ? "" : waitClass(longest)}`;
}

function agentActions(a) {
  if (!mayAct()) return "";
  if (a.state === "PAUSED") {
    return el("button", { type: "button", class: "small", "data-action": "unpause",
      onclick: () => agentCommand(a.agent_id, "unpause") }, t("unpause"));
  }
  if (a.state === "LOGGED_OUT") return "";
  const reason = el("select", { "aria-label": t("pauseReason") },
    board.reasons.map((r) => el("option", { value: r }, reasonName(r))));
  return el("span", { class: "row" }, reason, el("button", { type: "button", class: "small",
    "data-action": "pause", onclick: () => agentCommand(a.agent_id, "pause", reason.value) }, t("pause")));
}

async function agentCommand(agentId, action, reason) {
  const answer = await api("POST", `api/agents/${encodeURIComponent(agentId)}/${action}`,
    reason ? { reason } : {});
  flash(answer.ok ? `${agentName(agentId)}: ${word("ac_", answer.body.result)}`
    : `${t("refused")}: ${answer.body.result ? word("ac_", answer.body.result) : answer.body.error || answer.status}`, !answer.ok);
}

// Each shift on: rostered against logged in, red when the roster's alarm says short-handed.
function renderShifts() {
  const items = board.shifts.map((s) => el("li", {
    class: s.short_handed ? "late" : "ok", "data-shift": s.shift, "data-short": s.short_handed ? "1" : "0",
  }, `${t("shift")} ${s.shift}: ${s.logged_in}/${s.rostered} ${t("loggedIn")}`,
  s.short_handed ? ` — ${t("shortHanded")}` : ""));
  if (!board.staffed) items.unshift(el("li", { class: "warn", "data-shift": "" }, t("outOfHours")));
  document.getElementById("shifts").replaceChildren(...items);
}

function phoneCell(a) {
  const state = a.registered === true ? "registered" : a.registered === false ? "unregistered" : "unknownPhone";
  // A registered phone is a green dot (its word as the tooltip); any other state is spelt out.
  return el("td", { class: `phone phone-${state}`, "data-registered": String(a.registered), title: t(state) },
    el("span", { class: "dot", "aria-hidden": "true" }), a.registered === true ? "" : ` ${t(state)}`);
}

function renderAgents() {
  // Not rebuilt while the supervisor picks a pause reason in it.
  if (document.activeElement && document.activeElement.closest("#agents")) return;
  const rows = [...board.agents.values()];
  document.getElementById("c-agents").textContent =
    `(${rows.filter((a) => a.state !== "LOGGED_OUT").length}/${rows.length})`;
  document.querySelector("#agents tbody").replaceChildren(...rows.map((a) => el("tr",
    { "data-agent-id": a.agent_id, class: `agent-${a.state}` },
    el("td", { class: "name" }, a.name || a.agent_id, a.name ? el("span", { class: "muted id" }, ` ${a.agent_id}`) : ""),
    phoneCell(a),
    // The pause reason beside the state (one column less on a 1366 px screen).
    el("td", { class: "state-cell" }, el("span", { class: `state state-${a.state}` }, stateName(a.state)),
      a.pause_reason || a.pending_pause ? el("span", { class: "reason" },
        a.pause_reason ? reasonName(a.pause_reason) : `→ ${reasonName(a.pending_pause)}`) : ""),
    el("td", { class: "mono" }, a.since ? duration(now() - a.since) : "—"),
    el("td", { class: "mono" }, a.calls_answered),
    el("td", { class: "sup" }, agentActions(a)))));
}

function percent(part, whole) {
  return whole ? `${Math.round((100 * part) / whole)}%` : "–";
}

function within(d, i) {
  const found = (d.within || [])[i];
  return found ? found[1] : 0;
}

function renderToday() {
  const [first, second] = marks();
  document.getElementById("l-mark1").textContent = fill("withinMark", { s: first });
  document.getElementById("l-mark2").textContent = fill("withinMark", { s: second });
  const d = board.today;
  if (!d) return;
  const set = (id, value) => { document.getElementById(id).textContent = value; };
  set("n-calls", d.calls);
  set("n-mark1", percent(within(d, 0), d.calls));
  set("n-mark2", percent(within(d, 1), d.calls));
  set("n-abandoned", d.abandoned);
  set("n-callbacks", d.callbacks_open);
  set("n-nuisance", `${percent(d.nuisance, d.calls)} / ${percent(d.ghost, d.calls)}`);
  set("n-fallback", d.fallback);
  document.getElementById("figures").dataset.day = d.day;
  const s = d.shift;
  const shift = s ? `${fill("thisShift", { name: s.name })}: ` : "";
  set("s-calls", d.since ? fill("countingSince", { time: centreTime(d.since) })
    : s ? `${shift}${s.calls}` : "");
  set("s-mark1", s ? `${shift}${percent(within(s, 0), s.calls)}` : "");
  set("s-mark2", s ? `${shift}${percent(within(s, 1), s.calls)}` : "");
  set("s-abandoned", s ? `${shift}${s.abandoned}` : "");
  set("s-nuisance", s ? `${shift}${percent(s.nuisance, s.calls)} / ${percent(s.ghost, s.calls)}` : "");
  set("s-fallback", s ? `${shift}${s.fallback}` : "");
  set("s-longest", "");
}

// The daemon's own alarms (live feed): callers in the fallback queue, today's failed recordings.
function feedAlarms() {
  const items = [];
  const a = board.alarms;
  if (a && a.fallback) {
    const f = a.fallback;
    items.push(el("li", { class: "late", "data-alarm": "fallback" },
      `${t("fallbackWaiting")}: ${f.callers} (${t("longestWait")} ${duration(f.longest_wait_s || 0)}) ${t("shiftSince")} ${centreTime(f.since)}`));
  }
  if (a && a.recordings && a.recordings.failed) {
    const r = a.recordings;
    items.push(el("li", { class: "late", "data-alarm": "recordings" },
      `${t("recordingsFailed")}: ${r.failed}, ${t("last")} ${centreTime(r.last_at)}${r.last_reason ? ` (${r.last_reason})` : ""}`));
  }
  return items;
}

function renderAlarms() {
  const list = document.getElementById("alarms");
  const health = board.health;
  const items = feedAlarms();
  for (const [name, c] of Object.entries((health && health.components) || {})) {
    if (c.connected) continue;
    const degraded = c.degrading || !c.required;
    const since = typeof c.since === "number" ? centreTime(c.since) : t("sinceUnknown");
    items.push(el("li", { class: degraded ? "warn" : "late", "data-component": name },
      `${word("c_", name)}: ${t(degraded ? "degraded" : "down")} ${since}${c.detail ? ` (${c.detail})` : ""}`));
  }
  if (!health && !items.length) { list.replaceChildren(); return; }
  list.replaceChildren(...(items.length ? items : [el("li", { class: "ok" }, t("allGood"))]));
}

// -- the sound alert: made here (WebAudio), no file; a browser plays it once the page was clicked
// (its autoplay rule) unless the wall PC's browser allows it (kiosk: --autoplay-policy).
const sound = { context: null, last: 0 };

function setupSound() {
  const button = document.getElementById("sound");
  button.hidden = !board.settings.sound;
  if (!board.settings.sound || sound.context) { renderSound(); return; }
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return;
  sound.context = new Context();
  const wake = () => { sound.context.resume().then(renderSound); };
  button.addEventListener("click", wake);
  document.addEventListener("click", wake);
  renderSound();
}

function renderSound() {
  const button = document.getElementById("sound");
  const on = !!(sound.context && sound.context.state === "running");
  button.dataset.state = on ? "on" : "off";
  button.textContent = t(on ? "soundOn" : "soundOff");
}

// Why the alert is due now, or null: a caller waited too long, or callers are in the fallback queue.
function alertDue() {
  const s = board.settings;
  if (!s.sound) return null;
  const waiting = waitingCalls();
  if (waiting.some((c) => now() - c.arrived_at >= s.sound_after)) return "waited";
  if (s.sound_fallback && board.alarms && board.alarms.fallback) return "fallback";
  return null;
}

function beep(kind) {
  const ctx = sound.context;
  if (!ctx || ctx.state !== "running") return;
  // Two tones for a long wait, three lower ones for the fallback queue: told apart by ear.
  const tones = kind === "fallback" ? [660, 660, 660] : [880, 1175];
  tones.forEach((hz, i) => {
    const start = ctx.currentTime + i * 0.25;
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = "sine";
    osc.frequency.value = hz;
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.4, start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.2);
    osc.connect(gain).connect(ctx.destination);
    osc.start(start);
    osc.stop(start + 0.22);
  });
}

function soundTick() {
  const due = alertDue();
  document.body.dataset.alert = due || "";
  if (due && Date.now() / 1000 - sound.last >= SOUND_EVERY) {
    sound.last = Date.now() / 1000;
    beep(due);
  }
}

function render() {
  renderCalls();
  renderAgents();
  renderShifts();
  renderToday();
  renderAlarms();
  renderRecent();
  renderSound();
}

async function pollHealth() {
  try {
    const response = await fetch("readyz", { credentials: "same-origin" });
    board.health = await response.json();
  } catch (_) {
    board.health = null;
  }
  renderAlarms();
}

function tick() {
  const at = now();
  document.getElementById("clock").textContent = centreTime(at);
  document.getElementById("day").textContent = centreDate(at);
  if (cg.who) { renderCalls(); renderAgents(); soundTick(); }
}

document.addEventListener("DOMContentLoaded", () => {
  setupChrome(() => {
    connectLive(onMessage);
    loadRecent();
    loadReasons();
    pollHealth();
    setInterval(pollHealth, 5000);
  });
  document.addEventListener("callgate-lang", render);
  tick();
  setInterval(tick, 1000);
  document.getElementById("block-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.target;
    const unblock = e.submitter && e.submitter.value === "unblock";
    const body = { number: form.elements.number.value, reason: form.elements.reason.value };
    if (!unblock) body.hours = Number(form.elements.hours.value);
    const answer = await api("POST", unblock ? "api/unblock" : "api/blocks", body);
    const detail = answer.body.detail ? ` (${answer.body.detail})` : "";
    const result = answer.body.result ? `${word("bk_", answer.body.result)}${detail}` : answer.body.error || answer.status;
    flash(answer.ok ? `${t(unblock ? "unblock" : "block")}: ${result}` : `${t("refused")}: ${result}`, !answer.ok);
  });
});
