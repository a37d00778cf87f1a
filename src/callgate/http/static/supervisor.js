// The supervisor's tools on the wallboard (issue #24): listen to, whisper to or barge into a
// call-taker's conversation on the supervisor's own phone; give a waiting caller to a chosen
// free call-taker; log a call-taker in or out. Each goes through the admin API with the
// session's CSRF token, so the audit trail names the logged-in supervisor. This script follows
// the board that wallboard.js keeps (window.callgateBoard, the "callgate-board" event) and shows
// nothing to a role other than supervisor or admin (a wall display, a call-taker).
"use strict";

addWords({
  id: {
    supTools: "Alat supervisor",
    supCalltakers: "Operator: dengar, bisik, gabung",
    supWaiting: "Berikan penelepon menunggu ke operator",
    supListen: "Dengar",
    supWhisper: "Bisik",
    supBarge: "Gabung",
    supLogin: "Masukkan",
    supLogout: "Keluarkan",
    supAssign: "Berikan",
    supChoose: "Pilih operator bebas",
    supNobodyFree: "Tidak ada operator bebas",
    supNoWaiting: "Tidak ada penelepon menunggu",
    supRinging: "Telepon Anda berdering: angkat untuk bergabung",
    supAssigned: "Penelepon diberikan ke operator",
    supDone: "Selesai",
    "sup_not-connected": "Operator tidak sedang menangani panggilan",
    "sup_not-waiting": "Penelepon tidak lagi menunggu",
    "sup_not-free": "Operator tidak bebas",
    "sup_no-phone": "Akun Anda belum punya telepon ([[auth.users]] phone)",
    "sup_phone-failed": "Telepon Anda tidak dapat dihubungi",
    sup_failed: "Gagal",
  },
  en: {
    supTools: "Supervisor tools",
    supCalltakers: "Call-takers: listen, whisper, barge",
    supWaiting: "Give a waiting caller to a call-taker",
    supListen: "Listen",
    supWhisper: "Whisper",
    supBarge: "Barge",
    supLogin: "Log in",
    supLogout: "Log out",
    supAssign: "Give",
    supChoose: "Choose a free call-taker",
    supNobodyFree: "No call-taker free",
    supNoWaiting: "No caller waiting",
    supRinging: "Your phone is ringing: pick up to join",
    supAssigned: "Caller given to the call-taker",
    supDone: "Done",
    "sup_not-connected": "The call-taker is on no call",
    "sup_not-waiting": "The caller is no longer waiting",
    "sup_not-free": "The call-taker is not free",
    "sup_no-phone": "Your account has no phone ([[auth.users]] phone)",
    "sup_phone-failed": "Your phone could not be rung",
    sup_failed: "Failed",
  },
});

(() => {
  const WAITING = ["QUEUED", "OFFERED"];
  let panel = null;
  //: The call-taker chosen for each waiting caller, kept across the panel's redraws.
  const chosen = new Map();

  function mayUse() {
    return cg.who && (cg.who.role === "supervisor" || cg.who.role === "admin");
  }

  function refused(answer) {
    const result = (answer.body && answer.body.result) || "failed";
    flash(t(`sup_${result}`) === `sup_${result}` ? (answer.body.error || t("sup_failed")) : t(`sup_${result}`), true);
  }

  async function send(path, body, done) {
    const answer = await api("POST", path, body);
    if (answer.ok) flash(t(done), false);
    else refused(answer);
  }

  function button(label, action, onclick) {
    return el("button", { type: "button", class: "small sup-tool", "data-sup": action, onclick }, t(label));
  }

  function agentRow(a) {
    const id = a.agent_id;
    const tools = [];
    if (a.state === "ON_CALL") {
      for (const [mode, label] of [["listen", "supListen"], ["whisper", "supWhisper"], ["barge", "supBarge"]]) {
        tools.push(button(label, mode, () => send(`api/monitor/${encodeURIComponent(id)}`, { mode }, "supRinging")));
      }
    }
    if (a.state === "LOGGED_OUT") {
      tools.push(button("supLogin", "login", () => send(`api/agents/${encodeURIComponent(id)}/login`, {}, "supDone")));
    } else {
      tools.push(button("supLogout", "logout", () => send(`api/agents/${encodeURIComponent(id)}/logout`, {}, "supDone")));
    }
    return el("tr", { "data-sup-agent": id },
      el("td", { class: "mono" }, a.name && a.name !== id ? `${a.name} (${id})` : id),
      el("td", {}, el("span", { class: `state state-${a.state}` }, stateName(a.state))),
      el("td", { class: "sup-tools" }, tools));
  }

  function callRow(c, free) {
    const picker = el("select", { "data-sup-pick": c.call_id, "aria-label": t("supChoose"),
      onchange: (e) => chosen.set(c.call_id, e.target.value) },
    el("option", { value: "" }, free.length ? t("supChoose") : t("supNobodyFree")),
    free.map((a) => el("option", { value: a.agent_id, selected: chosen.get(c.call_id) === a.agent_id },
      a.name && a.name !== a.agent_id ? `${a.name} (${a.agent_id})` : a.agent_id)));
    const give = button("supAssign", "assign", () => {
      if (!picker.value) return;
      send(`api/calls/${encodeURIComponent(c.call_id)}/assign`, { agent_id: picker.value }, "supAssigned");
    });
    return el("tr", { "data-sup-call": c.call_id },
      el("td", { class: "mono" }, c.caller || "—"),
      el("td", { class: "mono" }, duration(now() - c.arrived_at)),
      el("td", {}, stateName(c.state) + (c.agent_id ? ` → ${c.agent_id}` : "")),
      el("td", { class: "sup-tools" }, picker, give));
  }

  // A drawer over the board's corner, closed until the supervisor opens it: in the page's
  // flow it pushed the wall's panels off a 1920x1080 or 1366x768 screen. Open or closed is
  // remembered by this browser.
  function build() {
    const link = el("link", { rel: "stylesheet", href: "assets/supervisor.css" });
    document.head.append(link);
    panel = el("details", { id: "supervisor-tools", class: "sup-panel",
      open: localStorage.getItem("callgate-sup-open") === "1" },
    el("summary", {}, el("h2", { "data-t": "supTools" }, t("supTools"))),
    el("div", { class: "sup-body" },
      el("h3", { "data-t": "supCalltakers" }, t("supCalltakers")),
      el("table", { id: "sup-agents", class: "sup-table" }, el("tbody")),
      el("h3", { "data-t": "supWaiting" }, t("supWaiting")),
      el("table", { id: "sup-calls", class: "sup-table" }, el("tbody"))));
    panel.addEventListener("toggle", () => {
      localStorage.setItem("callgate-sup-open", panel.open ? "1" : "0");
    });
    document.body.append(panel);
  }

  function render() {
    if (!mayUse()) {
      if (panel) panel.hidden = true;
      return;
    }
    if (!panel) build();
    panel.hidden = false;
    const board = window.callgateBoard;
    if (!board) return;
    // A picker the supervisor is using is not redrawn under them.
    if (panel.contains(document.activeElement) && document.activeElement.tagName === "SELECT") return;
    const agents = [...board.agents.values()].sort((a, b) => String(a.agent_id).localeCompare(String(b.agent_id)));
    panel.querySelector("#sup-agents tbody").replaceChildren(...agents.map(agentRow));
    const free = agents.filter((a) => a.state === "AVAILABLE");
    const waiting = [...board.calls.values()].filter((c) => WAITING.includes(c.state))
      .sort((a, b) => a.arrived_at - b.arrived_at);
    for (const id of [...chosen.keys()]) if (!waiting.some((c) => c.call_id === id)) chosen.delete(id);
    panel.querySelector("#sup-calls tbody").replaceChildren(...(waiting.length
      ? waiting.map((c) => callRow(c, free))
      : [el("tr", {}, el("td", { colspan: 4 }, t("supNoWaiting")))]));
  }

  document.addEventListener("callgate-board", render);
  document.addEventListener("callgate-lang", render);
})();
