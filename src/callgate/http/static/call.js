// A call's timeline: everything the journal knows in order, the recording's facts with an audio
// element (the browser asks for byte ranges to seek), a loud warning when the server refuses a
// recording whose hash changed (409), and for supervisors and admins the export (a reason is
// required) and the legal hold. Every action goes through the API with the session's CSRF token,
// so the audit trail names the person; who listened or exported is shown below.
"use strict";

const callId = new URLSearchParams(location.search).get("id");
const timeline = { data: null, audio: null };

function path(suffix) {
  return `api/calls/${encodeURIComponent(callId)}/${suffix}`;
}

function fact(name, ...value) {
  return [el("dt", {}, t(name)), el("dd", {}, ...value)];
}

async function load() {
  const box = document.getElementById("load-error");
  if (!callId) { box.textContent = t("noCallId"); box.hidden = false; return; }
  document.getElementById("call-id").textContent = callId;
  const answer = await api("GET", path("timeline"));
  if (!answer.ok) {
    box.textContent = answer.status === 404 ? t("notFound")
      : answer.status === 403 ? t("forbidden") : errorText(answer);
    box.hidden = false;
    document.body.dataset.ready = "1";
    return;
  }
  box.hidden = true;
  timeline.data = answer.body;
  render();
  document.body.dataset.ready = "1";
}

function renderCall(c) {
  document.getElementById("call-facts").replaceChildren(
    ...fact("caller", el("span", { class: "mono" }, c.caller || "—")),
    ...fact("callerSent", el("span", { class: "mono" }, c.caller_sent || "—")),
    ...fact("started", when(c.started_at)),
    ...fact("endedAt", when(c.ended_at)),
    ...fact("calltaker", el("span", { class: "mono" }, c.calltaker || "—")),
    ...fact("outcome", wordFor("o_", c.outcome)),
    ...fact("disposition", wordFor("d_", c.disposition)),
    ...fact("tags", ...(c.tags && c.tags.length ? tagList(c.tags) : ["—"])),
    ...fact("f_fallback", t(c.fallback ? "yes" : "no")),
    ...fact("waitS", seconds(c.wait_s)),
    ...fact("talkS", seconds(c.talk_s)),
  );
}

function renderRecording(r) {
  document.getElementById("no-recording").hidden = r !== null;
  document.getElementById("recording-present").hidden = r === null;
  if (r === null) return;
  const hold = r.hold
    ? el("span", { class: "late-text", id: "hold-state", "data-held": "1" },
      r.hold.reason ? `${r.hold.reason} — ${r.hold.by}, ${when(r.hold.at)}`
        : `${t("held")}, ${when(r.hold.at)}`) // a call-taker is not told who held it, nor why
    : el("span", { id: "hold-state", "data-held": "0" }, t("notHeld"));
  document.getElementById("recording-facts").replaceChildren(
    ...fact("durationS", el("span", { class: "mono" }, seconds(r.duration_s))),
    ...fact("sha256", el("code", { class: "sha", id: "sha256" }, r.sha256 || "—")),
    ...fact("sealed", r.sealed ? t("yes") : el("span", { class: "late-text" }, t("notSealed"))),
    ...fact("expires", r.hold ? t("heldNoExpiry") : when(r.expires_at)),
    ...fact("holdState", hold),
  );
  document.getElementById("hold").hidden = Boolean(r.hold);
  document.getElementById("unhold").hidden = !r.hold;
  // Set once: a re-render after an export or a hold must not start another playback.
  if (timeline.audio !== r.url) {
    timeline.audio = r.url;
    const player = document.getElementById("player");
    player.src = r.url.replace(/^\//, "");
    player.load();
  }
}

function renderEvents(events) {
  document.querySelector("#events tbody").replaceChildren(...events.map((e) => el("tr",
    { "data-kind": e.kind, class: e.kind === "mismatch" ? "late" : `kind-${e.kind}` },
    el("td", { class: "mono nowrap" }, when(e.at)),
    el("td", {}, wordFor("k_", e.kind)),
    el("td", {}, e.text || ""),
    el("td", { class: "mono" }, e.by || "—"))));
}

function renderAccess(rows) {
  document.getElementById("no-access").hidden = rows.length > 0;
  document.querySelector("#access tbody").replaceChildren(...rows.map((a) => el("tr",
    { "data-action": a.action, class: a.action === "mismatch" ? "late" : null },
    el("td", { class: "mono nowrap" }, when(a.at)),
    el("td", { class: "mono" }, a.by),
    el("td", {}, wordFor("a_", a.action)),
    el("td", {}, a.reason || "—"))));
}

function render() {
  const d = timeline.data;
  if (!d) return;
  renderCall(d.call);
  renderRecording(d.recording);
  renderEvents(d.events || []);
  renderAccess(d.access || []);
}

// The audio element cannot say why it failed: ask once for the first byte to learn the answer.
async function playbackFailed() {
  const player = document.getElementById("player");
  if (!player.getAttribute("src")) return;
  const warning = document.getElementById("integrity-warning");
  let status = 0;
  let detail = "";
  try {
    const response = await fetch(player.getAttribute("src"), {
      headers: { Range: "bytes=0-0" }, credentials: "same-origin",
    });
    status = response.status;
    if (!response.ok) detail = (await response.json().catch(() => ({}))).error || "";
  } catch (_) { /* the network: the generic message below */ }
  if (status >= 200 && status < 300) return; // a decoding hiccup, not a refusal
  warning.dataset.status = String(status);
  warning.textContent = status === 409 ? `${t("integrity")}${detail ? ` (${detail})` : ""}.`
    : `${t("playFailed")} (HTTP ${status || "?"}${detail ? `: ${detail}` : ""}).`;
  warning.hidden = false;
  document.getElementById("player").hidden = true; // nothing to play: the warning says why
}

function filename(response) {
  const header = response.headers.get("Content-Disposition") || "";
  const m = /filename="?([^";]+)"?/.exec(header);
  return m ? m[1] : `panggilan-${callId}.zip`;
}

async function exportBundle(event) {
  event.preventDefault();
  const reasonField = event.target.elements.reason;
  const response = await fetch(path("export"), {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/zip", "X-CSRF-Token": cg.who.csrf_token },
    body: JSON.stringify({ reason: reasonField.value.trim() }),
  });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    flash(errorText({ status: response.status, body }), true);
    return;
  }
  const url = URL.createObjectURL(await response.blob());
  const link = el("a", { href: url, download: filename(response), hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  reasonField.value = "";
  flash(t("exported"));
  load();
}

async function holdAction(event) {
  event.preventDefault();
  const lift = event.submitter && event.submitter.value === "unhold";
  const reasonField = event.target.elements.reason;
  const answer = await api(lift ? "DELETE" : "POST", path("hold"), { reason: reasonField.value.trim() });
  if (!answer.ok) { flash(errorText(answer), true); return; }
  reasonField.value = "";
  flash(t(lift ? "unheldDone" : "heldDone"));
  load();
}

document.addEventListener("DOMContentLoaded", () => {
  setupChrome(load);
  document.getElementById("player").addEventListener("error", playbackFailed);
  document.getElementById("export-form").addEventListener("submit", exportBundle);
  document.getElementById("hold-form").addEventListener("submit", holdAction);
  document.addEventListener("callgate-lang", render);
  // Back to the search this call was opened from (the pages send no referrer).
  const search = sessionStorage.getItem("callgate-search");
  if (search) document.getElementById("back").href = `calls${search}`;
});
