// A wall screen (role "display"): opened once as /wallboard#display=TOKEN, it trades the token
// for a session cookie that outlives browser and daemon restarts (callgate users display add).
// The token is in the fragment, which reaches no server log and no Referer; it is wiped from
// the address bar and the history before anything else, and kept in this tab's sessionStorage
// only until the daemon took it (a wall PC booting before the daemon tries again by itself).
// Then the board is read-only: every button, form, field and link is hidden and inert, now and
// whenever one is added; hidden, not removed, since wallboard.js still renders into them. The
// sound switch stays: a kiosk's browser runs with --autoplay-policy, and a wall must ring.
"use strict";

addWords({
  id: { displayBad: "Token layar tidak dikenal atau sudah dicabut", displayName: "Layar dinding",
    displayWait: "Menghubungi callgate…" },
  en: { displayBad: "Unknown or revoked display token", displayName: "Wall screen",
    displayWait: "Reaching callgate…" },
});

const DISPLAY_TOKEN = "callgate-display-token";

function sayDisplay(key) {
  const say = () => { document.getElementById("login-error").textContent = t(key); };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", say);
  else say();
}

(function openDisplay() {
  const match = /^#display=([A-Za-z0-9_-]{1,64})$/.exec(location.hash);
  if (match) {
    sessionStorage.setItem(DISPLAY_TOKEN, match[1]);
    history.replaceState(null, "", location.pathname + location.search);
  }
  const token = sessionStorage.getItem(DISPLAY_TOKEN);
  if (!token) return;
  let delay = 1000;
  const again = () => {
    sayDisplay("displayWait");
    setTimeout(trade, delay);
    delay = Math.min(delay * 2, 30000);
  };
  const trade = () => fetch("api/session/display", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ token }),
  }).then((response) => {
    if (response.ok) {
      sessionStorage.removeItem(DISPLAY_TOKEN);
      location.reload(); // the board starts again, now with the screen's session
    } else if (response.status === 401 || response.status === 400) {
      sessionStorage.removeItem(DISPLAY_TOKEN);
      sayDisplay("displayBad");
    } else {
      again(); // 429, 5xx: the daemon is busy, starting, or its journal is failing over
    }
  }, again); // the daemon is not up yet
  trade();
})();

function readOnly() {
  for (const node of document.querySelectorAll("button, form, input, select, textarea, a")) {
    if (node.id === "sound" || node.classList.contains("read-only")) continue;
    node.classList.add("read-only");
    node.inert = true;
    node.style.setProperty("display", "none", "important");
  }
}

document.addEventListener("DOMContentLoaded", () => {
  let watching = null;
  const follow = () => {
    if (document.body.dataset.role !== "display" || watching) return;
    readOnly();
    document.getElementById("user").textContent = `${t("displayName")} ${cg.who.name.replace(/^display:/, "")}`;
    watching = new MutationObserver(readOnly);
    watching.observe(document.body, { childList: true, subtree: true });
  };
  new MutationObserver(follow).observe(document.body, { attributes: true, attributeFilter: ["data-role"] });
  follow();
  // A revoked screen must not keep showing callers' numbers under a stale banner: when its
  // stream breaks, ask whether the session still is; ended (401), clear the board and reload.
  document.addEventListener("callgate-stale", async () => {
    if (document.body.dataset.role !== "display") return;
    let answer;
    try { answer = await api("GET", "api/session"); } catch (_) { return; } // daemon down
    if (answer.status !== 401) return;
    for (const body of document.querySelectorAll("main tbody")) body.replaceChildren();
    document.querySelector("main").hidden = true;
    location.reload();
  });
});
