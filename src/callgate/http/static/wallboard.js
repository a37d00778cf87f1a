// The supervisor's wallboard: waiting callers, call-takers, today's figures, alarms, and the
// supervisor's actions (each through the admin API with the session's CSRF token, so the audit
// trail names the logged-in user).
"use strict";

const board = {
  calls: new Map(), agents: new Map(), today: null, health: null, recent: [], shifts: [], staffed: true, alarms: null,
};
window.callgateBoard = board;
//: Recently ended calls shown to a supervisor (for a callback request).
const RECENT = 10;
//: The NENA marks: a caller waiting this long is highlighted.
const MARKS = [15, 20];

function mayAct() {
  return cg.who && (cg.who.role === "supervisor" || cg.who.role === "admin");
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
    for (const id of board.calls.keys()) if (!(id in cg.seen)) cg.seen[id] = arrived;
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

function ended(row) {
  board.recent = [row, ...board.recent.filter((r) => r.call_id !== row.call_id)].slice(0, RECENT);
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

function renderRecent() {
  const body = document.querySelector("#recent tbody");
  body.replaceChildren(...board.recent.map((r) => el("tr", { "data-call-id": r.call_id },
    el("td", { class: "mono" }, r.ended_at ? clock(r.ended_at) : ""),
    el("td", { class: "mono" }, r.caller || "—"),
    el("td", {}, word("o_", r.outcome)),
    el("td", { class: "mono" }, r.answered_by || "—"),
    el("td", {}, mayAct() ? el("button", { type: "button", class: "small", "data-action": "callback",
      onclick: () => requestCallback(r.call_id) }, t("callback")) : ""))));
}

function waitClass(seconds) {
  return seconds >= MARKS[1] ? "late" : seconds >= MARKS[0] ? "warn" : "";
}

// A word for a value the daemon sends (a tag, an outcome), or the value itself.
function word(prefix, value) {
  const key = `${prefix}${value}`;
  return t(key) === key ? value : t(key);
}

function tagText(tag) {
  return word("t_", tag);
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

function renderCalls() {
  const body = document.querySelector("#calls tbody");
  const rows = [...board.calls.values()].sort((a, b) => a.arrived_at - b.arrived_at);
  const waiting = rows.filter((c) => ["ARRIVED", "QUEUED", "OFFERED", "OVERFLOWING"].includes(c.state));
  body.replaceChildren(...rows.map((c) => {
    const waited = (c.answered_at || now()) - c.arrived_at;
    const inQueue = waiting.includes(c);
    return el("tr", {
      class: inQueue ? waitClass(waited) : "answered",
      "data-call-id": c.call_id, "data-seen-at": cg.seen[c.call_id], "data-state": c.state,
    },
    el("td", {}, c.position || ""),
    el("td", { class: "mono" }, c.caller || "—"),
    el("td", {}, `${c.priority} ${c.category || ""}`),
    el("td", {}, (c.tags || []).map((tag) => el("span", { class: `tag tag-${tag}` }, tagText(tag)))),
    el("td", { class: "mono wait" }, duration(waited)),
    el("td", {}, stateName(c.state) + (c.agent_id ? ` → ${c.agent_id}` : "")),
    el("td", { class: "sup" }, mayAct() && c.agent_id ? dispositionPicker(c.call_id) : ""));
  }));
  document.getElementById("n-waiting").textContent = waiting.length;
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
    PAUSE_REASONS.map((r) => el("option", { value: r }, r)));
  return el("span", { class: "row" }, reason, el("button", { type: "button", class: "small",
    "data-action": "pause", onclick: () => agentCommand(a.agent_id, "pause", reason.value) }, t("pause")));
}

async function agentCommand(agentId, action, reason) {
  const answer = await api("POST", `api/agents/${encodeURIComponent(agentId)}/${action}`,
    reason ? { reason } : {});
  flash(answer.ok ? `${agentId}: ${answer.body.result}` : `${t("refused")}: ${answer.body.error || answer.status}`, !answer.ok);
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

function renderAgents() {
  const body = document.querySelector("#agents tbody");
  body.replaceChildren(...[...board.agents.values()].map((a) => el("tr",
    { "data-agent-id": a.agent_id, class: `agent-${a.state}` },
    el("td", { class: "mono" }, a.agent_id),
    el("td", {}, el("span", { class: `state state-${a.state}` }, stateName(a.state))),
    el("td", { class: "mono" }, a.since ? duration(now() - a.since) : "—"),
    el("td", {}, a.pause_reason || a.pending_pause || ""),
    el("td", { class: "mono" }, a.calls_answered),
    el("td", { class: "sup" }, agentActions(a)))));
}

function percent(part, whole) {
  return whole ? `${Math.round((100 * part) / whole)}%` : "–";
}

function renderToday() {
  const d = board.today;
  if (!d) return;
  const set = (id, value) => { document.getElementById(id).textContent = value; };
  set("n-calls", d.calls);
  set("n-within15", percent(d.within_15, d.calls));
  set("n-within20", percent(d.within_20, d.calls));
  set("n-abandoned", d.abandoned);
  set("n-callbacks", d.callbacks_open);
  set("n-nuisance", `${percent(d.nuisance, d.calls)} / ${percent(d.ghost, d.calls)}`);
  set("n-fallback", d.fallback);
}

// The daemon's own alarms (live feed): callers in the fallback queue, today's failed recordings.
function feedAlarms() {
  const items = [];
  const a = board.alarms;
  if (a && a.fallback) {
    const f = a.fallback;
    items.push(el("li", { class: "late", "data-alarm": "fallback" },
      `${t("fallbackWaiting")}: ${f.callers} (${t("longestWait")} ${duration(f.longest_wait_s || 0)}) ${t("shiftSince")} ${clock(f.since)}`));
  }
  if (a && a.recordings && a.recordings.failed) {
    const r = a.recordings;
    items.push(el("li", { class: "late", "data-alarm": "recordings" },
      `${t("recordingsFailed")}: ${r.failed}, ${t("last")} ${clock(r.last_at)}${r.last_reason ? ` (${r.last_reason})` : ""}`));
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
    const since = typeof c.since === "number" ? clock(c.since) : "?";
    items.push(el("li", { class: degraded ? "warn" : "late", "data-component": name },
      `${name}: ${t(degraded ? "degraded" : "down")} ${since}${c.detail ? ` (${c.detail})` : ""}`));
  }
  if (!health && !items.length) { list.replaceChildren(); return; }
  list.replaceChildren(...(items.length ? items : [el("li", { class: "ok" }, t("allGood"))]));
}

function render() {
  renderCalls();
  renderAgents();
  renderShifts();
  renderToday();
  renderAlarms();
  renderRecent();
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

document.addEventListener("DOMContentLoaded", () => {
  setupChrome(() => {
    connectLive(onMessage);
    loadRecent();
    pollHealth();
    setInterval(pollHealth, 5000);
  });
  document.addEventListener("callgate-lang", render);
  setInterval(() => {
    document.getElementById("clock").textContent = clock(now());
    if (cg.who) { renderCalls(); renderAgents(); }
  }, 1000);
  document.getElementById("block-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.target;
    const unblock = e.submitter && e.submitter.value === "unblock";
    const body = { number: form.elements.number.value, reason: form.elements.reason.value };
    if (!unblock) body.hours = Number(form.elements.hours.value);
    const answer = await api("POST", unblock ? "api/unblock" : "api/blocks", body);
    flash(answer.ok ? `${t(unblock ? "unblock" : "block")}: ${answer.body.result}` : `${t("refused")}: ${answer.body.error || answer.status}`, !answer.ok);
  });
});
