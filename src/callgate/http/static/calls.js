// "Cari panggilan": the search form (every filter of GET /api/calls/search), the results page
// by page, the same search as CSV, and a click to the call's timeline. The search lives in the
// page's address (?caller=…&page=2), so the back button from a timeline returns to it.
"use strict";

const FILTERS = ["caller", "since", "until", "calltaker", "outcome", "disposition", "tag", "fallback"];
const found = { page: 1, perPage: 50, total: 0 };

function form() {
  return document.getElementById("search-form");
}

function query(page) {
  const params = new URLSearchParams();
  for (const name of FILTERS) {
    const value = form().elements[name].value.trim();
    if (value) params.set(name, value);
  }
  params.set("page", String(page));
  params.set("per_page", form().elements.per_page.value);
  return params;
}

// The form from the address: a search opened again, or one a colleague sent as a link.
function fromAddress() {
  const params = new URLSearchParams(location.search);
  for (const name of [...FILTERS, "per_page"]) {
    const field = form().elements[name];
    const value = params.get(name);
    // A select keeps its choice unless the address names one of its options.
    if (value === null || (field.options && ![...field.options].some((o) => o.value === value))) continue;
    field.value = value;
  }
  return Math.max(1, Number(params.get("page")) || 1);
}

async function search(page) {
  const params = query(page);
  history.replaceState(null, "", `?${params}`);
  sessionStorage.setItem("callgate-search", `?${params}`);
  document.body.dataset.ready = "0";
  document.getElementById("summary").textContent = t("searching");
  const answer = await api("GET", `api/calls/search?${params}`);
  if (!answer.ok) {
    document.getElementById("summary").textContent = errorText(answer);
    document.querySelector("#results tbody").replaceChildren();
    document.getElementById("csv").hidden = true;
    document.body.dataset.ready = "1";
    return;
  }
  found.page = answer.body.page;
  found.perPage = answer.body.per_page;
  found.total = answer.body.total;
  render(answer.body.calls || []);
  const csv = new URLSearchParams(params);
  csv.set("format", "csv");
  const link = document.getElementById("csv");
  link.href = `api/calls/search?${csv}`;
  link.download = "panggilan-112.csv";
  link.hidden = false;
  document.body.dataset.ready = "1";
}

function open(callId) {
  location.href = `call?id=${encodeURIComponent(callId)}`;
}

function callerCell(c) {
  const sent = c.caller_sent && c.caller_sent !== c.caller
    ? el("div", { class: "muted small-text" }, `${t("sentAs")} ${c.caller_sent}`) : null;
  return el("td", { class: "mono" }, el("a", { href: `call?id=${encodeURIComponent(c.call_id)}` },
    c.caller || c.caller_sent || "—"), sent);
}

function render(calls) {
  const body = document.querySelector("#results tbody");
  body.replaceChildren(...calls.map((c) => el("tr", {
    class: "clickable", "data-call-id": c.call_id, title: c.call_id, onclick: (e) => {
      if (!e.target.closest("a")) open(c.call_id);
    },
  },
  el("td", { class: "mono nowrap" }, when(c.started_at)),
  callerCell(c),
  el("td", { class: "mono" }, c.calltaker || "—"),
  el("td", {}, wordFor("o_", c.outcome)),
  el("td", {}, wordFor("d_", c.disposition)),
  el("td", {}, tagList(c.tags), c.fallback ? el("span", { class: "tag tag-fallback" }, t("fallbackTag")) : null),
  el("td", { class: "mono" }, seconds(c.wait_s)),
  el("td", { class: "mono" }, seconds(c.talk_s)),
  el("td", {}, c.recording ? t("hasRecording") : "—",
    c.hold ? el("span", { class: "tag tag-hold" }, t("held")) : null))));
  const pages = Math.max(1, Math.ceil(found.total / found.perPage));
  // The range as searched, in words: a date typed in the browser's own format (dd/mm or mm/dd)
  // is read back unambiguously.
  const since = form().elements.since.value;
  const until = form().elements.until.value;
  const range = since || until
    ? `${t("f_since")} ${since ? when(since) : "…"} ${t("f_until").toLowerCase()} ${until ? when(until) : "…"}`
    : "";
  document.getElementById("summary").replaceChildren(found.total
    ? `${found.total} ${t("found")}` : t("noneFound"), el("span", { class: "range", id: "range" }, range));
  document.getElementById("page-of").textContent = `${t("page")} ${found.page} ${t("of")} ${pages}`;
  document.getElementById("prev").disabled = found.page <= 1;
  document.getElementById("next").disabled = found.page >= pages;
}

document.addEventListener("DOMContentLoaded", () => {
  const first = fromAddress();
  setupChrome(() => search(first));
  form().addEventListener("submit", (e) => { e.preventDefault(); search(1); });
  form().addEventListener("reset", () => setTimeout(() => search(1), 0));
  document.getElementById("prev").addEventListener("click", () => search(found.page - 1));
  document.getElementById("next").addEventListener("click", () => search(found.page + 1));
  document.addEventListener("callgate-lang", () => { if (cg.who) search(found.page); });
});
