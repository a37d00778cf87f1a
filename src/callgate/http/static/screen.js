// The call-taker's screen: their own state, the call ringing or connected on their phone with
// the caller's history (GET api/my-call), and the disposition buttons. The live stream sends
// this user only their own row and their own call (the daemon filters by role).
"use strict";

const screen = {
  me: null, call: null, last: null, history: [], callbackOpen: false, loadedFor: null,
  recordings: {}, // call_id -> {state, detail}: stored once the call ended
  agencies: [], // [agencies] by name: a three-way and a hand-off button each
};

function onMessage(message, arrived) {
  if (message.type === "snapshot") {
    cg.offset = message.at - arrived / 1000;
    screen.me = (message.agents || [])[0] || screen.me;
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

function renderMe() {
  const me = screen.me;
  const state = document.getElementById("my-state");
  state.textContent = me ? stateName(me.state) : "—";
  state.className = `state big state-${me ? me.state : ""}`;
  document.getElementById("my-since").textContent = me && me.since ? duration(now() - me.since) : "";
  document.getElementById("my-reason").textContent = me ? me.pause_reason || "" : "";
  const actions = document.getElementById("my-actions");
  if (!me || actions.dataset.state === me.state) return;
  actions.dataset.state = me.state;
  const command = async (action, reason) => {
    const answer = await api("POST", `api/agents/${encodeURIComponent(me.agent_id)}/${action}`, reason ? { reason } : {});
    flash(answer.ok ? answer.body.result : `${t("refused")}: ${answer.body.error || answer.status}`, !answer.ok);
  };
  actions.replaceChildren(...(me.state === "PAUSED"
    ? [el("button", { type: "button", onclick: () => command("unpause") }, t("unpause"))]
    : PAUSE_REASONS.map((r) => el("button", { type: "button", class: "small", onclick: () => command("pause", r) }, `${t("pause")}: ${r}`))));
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
    el("span", { class: `tag tag-${tag}` }, t(`t_${tag}`) === `t_${tag}` ? tag : t(`t_${tag}`))));
  document.getElementById("call-state").textContent = live ? stateName(call.state) : t("lastCall");
  const waited = (call.answered_at || (live ? now() : call.arrived_at)) - call.arrived_at;
  document.getElementById("call-wait").textContent = duration(waited);
  document.getElementById("call-score").textContent = call.score ? call.score.toFixed(2) : "0";
  document.getElementById("call-callback").textContent = screen.callbackOpen ? "✔" : "—";
  const recording = screen.recordings[call.call_id];
  const shownRec = document.getElementById("call-recording");
  shownRec.textContent = recording
    ? `${t(`rec_${recording.state}`)}${recording.detail ? ` (${recording.detail})` : ""}` : t("rec_none");
  shownRec.dataset.state = recording ? recording.state : "";
  shownRec.className = recording && recording.state === "failed" ? "bad" : "";
  const history = document.getElementById("history");
  history.replaceChildren(...(screen.history.length
    ? screen.history.map((h) => el("li", { "data-disposition": h.disposition },
      `${new Date(h.at * 1000).toLocaleString("en-GB", { hour12: false })} — ${t(`d_${h.disposition}`)}`))
    : [el("li", { class: "muted" }, t("noHistory"))]));
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

document.addEventListener("DOMContentLoaded", () => {
  setupChrome(() => { loadAgencies().then(render); connectLive(onMessage); });
  document.addEventListener("callgate-lang", () => {
    document.getElementById("my-actions").dataset.state = "";
    render();
  });
  setInterval(() => {
    document.getElementById("clock").textContent = clock(now());
    if (cg.who) render();
  }, 1000);
});
