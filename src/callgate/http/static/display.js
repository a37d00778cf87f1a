// A wall screen (role "display"): opened once as /wallboard#display=TOKEN, it trades the token
// for a session cookie that outlives browser and daemon restarts (callgate users display add).
// The token is in the fragment, which reaches no server log and no Referer; it is wiped from
// the address bar and the history before anything else. Then the board is read-only: every
// button, form, field and link is taken out of the page, now and whenever one is added.
"use strict";

addWords({
  id: { displayBad: "Token layar tidak dikenal atau sudah dicabut", displayName: "Layar dinding" },
  en: { displayBad: "Unknown or revoked display token", displayName: "Wall screen" },
});

(function openDisplay() {
  const match = /^#display=([A-Za-z0-9_-]{1,64})$/.exec(location.hash);
  if (!match) return;
  history.replaceState(null, "", location.pathname + location.search);
  fetch("api/session/display", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ token: match[1] }),
  }).then((response) => {
    if (response.ok) {
      location.reload(); // the board starts again, now with the screen's session
      return;
    }
    const say = () => { document.getElementById("login-error").textContent = t("displayBad"); };
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", say);
    else say();
  });
})();

function readOnly() {
  for (const node of document.querySelectorAll("button, form, input, select, textarea, a")) {
    node.remove();
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
});
