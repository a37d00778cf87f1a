// The call-taker's screen: their own state, the call ringing or connected on their phone with
// the caller's history (GET api/my-call), and the disposition buttons. The live stream sends
// this user only their own row and their own call (the daemon filters by role). The call-taker
// logs in, pauses (with every reason of [agi] pause_reasons, from GET api/screen) and logs out
// here as with *11..*14 on the phone; only what their state allows is offered.
"use strict";

addWords({
  id: {
    dutyIn: "Mulai bertugas", dutyOut: "Selesai bertugas", dutyBack: "Siap lagi",
    pauseFor: "Jeda", historyNone: "Belum pernah menelepon dalam {days} hari terakhir",
    historyLine: "{n} {what} dalam {days} hari terakhir",
    h_genuine: "panggilan darurat nyata", h_information: "permintaan informasi",
    h_prank: "panggilan iseng", h_ghost: "panggilan diam", h_test: "panggilan uji",
    "h_wrong-number": "salah sambung", h_other: "panggilan lain",
    r_OK: "Berhasil", r_ALREADY: "Sudah begitu", r_REFUSED: "Tidak bisa sekarang", r_UNKNOWN: "Operator tidak dikenal",
    notCalltaker: "Akun ini bukan akun operator: tidak ada status untuk diubah.",
  },
  en: {
    dutyIn: "Log in to take calls", dutyOut: "Log out of calls", dutyBack: "Ready again",
    pauseFor: "Pause", historyNone: "No calls in the last {days} days",
    historyLine: "{n} {what} in the last {days} days",
    h_genuine: "genuine emergencies", h_genuine_1: "genuine emergency",
    h_information: "information requests", h_information_1: "information request",
    h_prank: "prank calls", h_prank_1: "prank call", h_ghost: "silent calls", h_ghost_1: "silent call",
    h_test: "test calls", h_test_1: "test call", "h_wrong-number": "wrong numbers",
    "h_wrong-number_1": "wrong number", h_other: "other calls", h_other_1: "other call",
    r_OK: "Done", r_ALREADY: "Already so", r_REFUSED: "Not possible now", r_UNKNOWN: "Unknown call-taker",
    notCalltaker: "This account is not a call-taker's: there is no state to change.",
  },
});

const screen = {
  me: null, call: null, last: null, history: [], callbackOpen: false, loadedFor: null,
  recordings: {}, // call_id -> {state, detail}: stored once the call ended
  agencies: [], // [agencies] by name: a three-way and a hand-off button each
  reasons: PAUSE_REASONS, // [agi] pause_reasons in digit order, once GET api/screen answered
  historyDays: 90, // how far back GET api/my-call's history reaches
  snapshot: false, // the live stream's first message has arrived
};

// What each state allows (the core's answers, core/agent_requests.py): a pause or a log-out
// during a call takes effect as the core decides; nothing is offered while logged out but
// logging in, and a paused call-taker is offered to be ready again.
const OFFERS = {
  LOGGED_OUT: ["login"],
  PAUSED: ["unpause", "logout"],
  AVAILABLE: ["pause", "logout"],
  WRAP_UP: ["pause", "logout"],
  RINGING: ["pause"],
  ON_CALL: ["pause"],
};

function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, k) => String(values[k]));
}

function onMessage(message, arrived) {
  if (message.type === "snapshot") {
    cg.offset = message.at - arrived / 1000;
    screen.me = (message.agents || [])[0] || screen.me;
    screen.snapshot = true;
    const calls = message.calls || [];
    screen.call = calls.length ? calls[calls.length - 1] : null;
  } else if (message.type === "call") {
    screen.call = message.call;
  } else if (message.type === "call-ended") {
    if (screen.call && screen.call.call_id === message.call_id) {
      if (screen.call.answered_at) screen.last = screen.call;
      screen.call = null;
    }
  } else if (message.type === "agent") {
    screen.me = message.agent;
  } else if (message.type === "recording") {
    screen.recordings[message.call_id] = { state: message.state, detail: message.detail };
  }
  if (screen.call && !(screen.call.call_id in cg.seen)) cg.seen[screen.call.call_id] = arrived;
  const shown = screen.call || screen.last;
  if (shown && screen.loadedFor !== shown.call_id) loadHistory(shown.call_id);
  render();
}

async function loadHistory(callId) {
  screen.loadedFor = callId;
  const answer = await api("GET", "api/my-call");
  if (!answer.ok || !answer.body.call || answer.body.call.call_id !== callId) return;
  screen.history = answer.body.history || [];
  screen.callbackOpen = answer.body.callback_open;
  document.getElementById("history").dataset.callId = callId;
  render();
}

// This user's row; a call-taker with no row in the snapshot is logged out (the daemon sends a
// row for each call-taker it follows).
function myRow() {
  if (screen.me) return screen.me;
  if (!screen.snapshot || !cg.who || !cg.who.agent_id) return null;
  return { agent_id: cg.who.agent_id, state: "LOGGED_OUT" };
}

function renderMe() {
  const me = myRow();
  const state = document.getElementById("my-state");
  state.textContent = me ? stateName(me.state) : "—";
  state.className = `state big state-${me ? me.state : ""}`;
  state.dataset.state = me ? me.state : "";
  document.getElementById("my-since").textContent = me && me.since ? duration(now() - me.since) : "";
  const reason = document.getElementById("my-reason");
  reason.textContent = me && me.state === "PAUSED" && me.pause_reason ? reasonName(me.pause_reason) : "";
  reason.dataset.reason = me && me.state === "PAUSED" ? me.pause_reason || "" : "";
  const actions = document.getElementById("my-actions");
  const notCalltaker = cg.who && !cg.who.agent_id;
  const key = me ? `${me.state} ${cg.lang} ${screen.reasons.join(",")}` : notCalltaker ? `none ${cg.lang}` : "";
  if (actions.dataset.key === key) return;
  actions.dataset.key = key;
  actions.dataset.state = me ? me.state : "";
  if (!me) {
    actions.replaceChildren(...(notCalltaker ? [el("span", { class: "muted" }, t("notCalltaker"))] : []));
    return;
  }
  const command = async (action, chosen) => {
    const answer = await api("POST", `api/agents/${encodeURIComponent(me.agent_id)}/${action}`, chosen ? { reason: chosen } : {});
    flash(answer.ok ? word("r_", answer.body.result) : `${t("refused")}: ${answer.body.error || answer.status}`, !answer.ok);
  };
  const offered = OFFERS[me.state] || [];
  const buttons = [];
  if (offered.includes("login")) {
    buttons.push(el("button", { type: "button", "data-action": "login", onclick: () => command("login") }, t("dutyIn")));
  }
  if (offered.includes("unpause")) {
    buttons.push(el("button", { type: "button", "data-action": "unpause", onclick: () => command("unpause") }, t("dutyBack")));
  }
  if (offered.includes("pause")) {
    for (const r of screen.reasons) {
      buttons.push(el("button", {
        type: "button", class: "small", "data-action": "pause", "data-reason": r,
        onclick: () => command("pause", r),
      }, `${t("pauseFor")}: ${reasonName(r)}`));
    }
  }
  if (offered.includes("logout")) {
    buttons.push(el("button", { type: "button", class: "small", "data-action": "logout", onclick: () => command("logout") }, t("dutyOut")));
  }
  actions.replaceChildren(...buttons);
}

// "2 panggilan iseng dalam 90 hari terakhir": the caller's earlier calls counted by
// disposition, the most telling first (a call-taker reads this while the phone rings).
function historyWords() {
  const days = screen.historyDays;
  if (!screen.history.length) return [fill(t("historyNone"), { days })];
  const counts = new Map();
  for (const h of screen.history) {
    const d = DISPOSITIONS.includes(h.disposition) ? h.disposition : "other";
    counts.set(d, (counts.get(d) || 0) + 1);
  }
  const order = ["prank", "ghost", "genuine", "information", "wrong-number", "test", "other"];
  return order.filter((d) => counts.has(d)).map((d) => {
    const n = counts.get(d);
    // English has a singular ("1 prank call"); Indonesian needs none ("1 panggilan iseng").
    const one = (WORDS[cg.lang] || {})[`h_${d}_1`];
    const what = n === 1 && one ? one : t(`h_${d}`);
    return fill(t("historyLine"), { n: number(n), what, days: number(days) });
  });
}

function renderCall() {
  const call = screen.call || screen.last;
  const body = document.getElementById("call-body");
  const title = document.getElementById("call-title");
  if (!call) {
    body.hidden = true;
    title.dataset.t = "noCall";
    title.textContent = t("noCall");
    document.getElementById("call").className = "call";
    return;
  }
  body.hidden = false;
  const live = call === screen.call;
  const key = !live ? "lastCall" : call.state === "CONNECTED" ? "connected" : "ringing";
  title.dataset.t = key;
  title.textContent = t(key);
  const section = document.getElementById("call");
  section.className = `call ${live ? `call-${call.state}` : "call-ended"}`;
  section.dataset.callId = call.call_id;
  section.dataset.seenAt = cg.seen[call.call_id] || "";
  document.getElementById("caller").textContent = call.caller || call.caller_name || "—";
  document.getElementById("call-tags").replaceChildren(...(call.tags || []).map((tag) =>
    el("span", { class: `tag tag-${tag.split(" ")[0]}`, "data-tag": tag }, t(`t_${tag}`) === `t_${tag}` ? tagText(tag) : t(`t_${tag}`))));
  document.getElementById("call-state").textContent = live ? stateName(call.state) : t("lastCall");
  const waited = (call.answered_at || (live ? now() : call.arrived_at)) - call.arrived_at;
  document.getElementById("call-wait").textContent = duration(waited);
  document.getElementById("call-callback").textContent = screen.callbackOpen ? "✔" : "—";
  const recording = screen.recordings[call.call_id];
  const shownRec = document.getElementById("call-recording");
  shownRec.textContent = recording
    ? `${t(`rec_${recording.state}`)}${recording.detail ? ` (${recording.detail})` : ""}` : t("rec_none");
  shownRec.dataset.state = recording ? recording.state : "";
  shownRec.className = recording && recording.state === "failed" ? "bad" : "";
  const history = document.getElementById("history");
  document.getElementById("history-words").replaceChildren(...historyWords().map((line) => el("li", {}, line)));
  history.replaceChildren(...screen.history.map((h) => el("li", { "data-disposition": h.disposition },
    `${dateTime(h.at)} — ${word("d_", h.disposition)}`)));
  const buttons = document.getElementById("dispositions");
  if (buttons.dataset.callId !== call.call_id || buttons.dataset.lang !== cg.lang) {
    buttons.dataset.callId = call.call_id;
    buttons.dataset.lang = cg.lang;
    buttons.replaceChildren(...DISPOSITIONS.map((d) => el("button", {
      type: "button", "data-disposition": d, class: `disp disp-${d}`,
      onclick: async () => {
        const answer = await api("POST", `api/calls/${encodeURIComponent(call.call_id)}/disposition`, { disposition: d });
        flash(answer.ok ? `${t("done")}: ${t(`d_${d}`)}` : `${t("refused")}: ${answer.body.error || answer.status}`, !answer.ok);
        if (answer.ok) buttons.dataset.set = d;
      },
    }, t(`d_${d}`))));
  }
}

// One button per agency and mode, while the call is connected: the same as *<digit> (three-way)
// and #<digit> (hand-off) on the phone.
function renderHandOffs() {
  const call = screen.call;
  const box = document.getElementById("handoffs-box");
  box.hidden = !(call && call.state === "CONNECTED" && screen.agencies.length);
  const buttons = document.getElementById("handoffs");
  const key = `${call ? call.call_id : ""} ${cg.lang}`;
  if (box.hidden || buttons.dataset.key === key) return;
  buttons.dataset.key = key;
  buttons.replaceChildren(...screen.agencies.flatMap((agency) => ["three-way", "hand-off"].map((mode) =>
    el("button", {
      type: "button", class: `handoff handoff-${mode}`, "data-agency": agency, "data-mode": mode,
      onclick: async () => {
        const answer = await api("POST", `api/calls/${encodeURIComponent(call.call_id)}/handoff`, { agency, mode });
        flash(answer.ok ? `${t("calling")}: ${agency}` : `${t("refused")}: ${answer.body.error || answer.status}`, !answer.ok);
      },
    }, `${t(`m_${mode}`)}: ${agency}`))));
}

function render() {
  renderMe();
  renderCall();
  renderHandOffs();
}

async function loadAgencies() {
  const answer = await api("GET", "api/agencies");
  if (answer.ok) screen.agencies = answer.body.agencies || [];
}

// The configured pause reasons, the centre's zone and how far the history reaches.
async function loadScreen() {
  const answer = await api("GET", "api/screen");
  if (!answer.ok) return;
  screen.reasons = (answer.body.pause_reasons || []).map((p) => p.reason);
  screen.historyDays = answer.body.history_days || screen.historyDays;
  cg.zone = answer.body.timezone || undefined;
  document.body.dataset.reasons = screen.reasons.join(",");
}

document.addEventListener("DOMContentLoaded", () => {
  setupChrome(() => { Promise.all([loadAgencies(), loadScreen()]).then(render); connectLive(onMessage); });
  document.addEventListener("callgate-lang", () => {
    document.getElementById("my-actions").dataset.key = "";
    render();
  });
  setInterval(() => {
    document.getElementById("clock").textContent = clock(now());
    if (cg.who) render();
  }, 1000);
});
