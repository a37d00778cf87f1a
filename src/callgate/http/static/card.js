// The printable feature-code card: the codes of the dialplan's [callgate-agents] context and the
// in-call keys (core/incall_keys.py), with the digits of this centre's configuration (GET
// api/screen: [agi] pause_reasons, [dispositions] codes, [agencies]) when the browser has a
// session; the shipped defaults otherwise, and says which.
"use strict";

addWords({
  id: {
    cardTitle: "Kartu kode telepon operator 112", cardPrint: "Cetak",
    cardLead: "Tekan di telepon (softphone) Anda. Setiap kode dijawab dengan suara singkat.",
    cardIdle: "Di luar panggilan", cardInCall: "Selama panggilan tersambung",
    code11: "Mulai bertugas: masuk antrean panggilan 112",
    code12: "Selesai bertugas: keluar dari antrean",
    code13X: "Jeda dengan alasan X (tabel A); atau *13 lalu angka X setelah bunyi bip",
    code13: "Jeda tanpa angka: alasan \"Tanpa alasan\"",
    code14: "Siap lagi: akhiri jeda",
    code15X: "Klasifikasi panggilan terakhir yang Anda jawab (dalam 1 jam) dengan X (tabel B); atau *15 lalu angka X",
    code600: "Uji headset dan jaringan: suara Anda kembali (gema)",
    codeStarStarX: "Klasifikasi panggilan ini dengan X (tabel B)",
    codeStarN: "Panggil instansi N ikut bicara (3 pihak): Anda tetap tersambung (tabel C)",
    codeHashN: "Serahkan panggilan ke instansi N: Anda lepas setelah instansi menjawab, tidak sebelumnya (tabel C)",
    cardKeys: "Tekan angka segera setelah * atau # (dalam 3 detik); rekaman tetap berjalan.",
    cardReasons: "A. Alasan jeda (X)", cardDispositions: "B. Klasifikasi (X)", cardAgencies: "C. Instansi (N)",
    cardFoot: "Layar operator (/screen) menawarkan tindakan yang sama dengan tombol.",
    cardConfigured: "Angka sesuai konfigurasi pusat ini.",
    cardDefaults: "Angka bawaan: masuk di layar operator untuk melihat konfigurasi pusat ini.",
    cardNoAgency: "Tidak ada instansi terkonfigurasi",
  },
  en: {
    cardTitle: "112 call-taker's phone code card", cardPrint: "Print",
    cardLead: "Dial on your softphone. Each code answers with a short spoken confirmation.",
    cardIdle: "Outside a call", cardInCall: "During a connected call",
    code11: "Log in: join the 112 call queue",
    code12: "Log out: leave the queue",
    code13X: "Pause with reason X (table A); or *13 then the digit X after the beep",
    code13: "Pause with no digit: reason \"No reason\"",
    code14: "Ready again: end the pause",
    code15X: "Disposition X (table B) of the last call you answered (within 1 hour); or *15 then the digit X",
    code600: "Headset and network test: you hear yourself (echo)",
    codeStarStarX: "Disposition X (table B) of this call",
    codeStarN: "Call agency N in (three-way): you stay on (table C)",
    codeHashN: "Hand the call off to agency N: you leave once the agency has answered, never before (table C)",
    cardKeys: "Key the digit right after * or # (within 3 seconds); the recording goes on.",
    cardReasons: "A. Pause reasons (X)", cardDispositions: "B. Dispositions (X)", cardAgencies: "C. Agencies (N)",
    cardFoot: "The call-taker's screen (/screen) offers the same actions as buttons.",
    cardConfigured: "Digits as this centre is configured.",
    cardDefaults: "Default digits: log in on the call-taker's screen to see this centre's.",
    cardNoAgency: "No agency configured",
  },
});

// The shipped defaults ([agi] pause_reasons, [dispositions] codes; agencies have none).
const card = {
  configured: false,
  reasons: PAUSE_REASONS.map((reason, i) => ({ digit: String(i + 1), reason })),
  dispositions: DISPOSITIONS.map((disposition, i) => ({ digit: String(i + 1), disposition })),
  agencies: [],
};

function rows(id, items, name) {
  const table = document.getElementById(id);
  table.replaceChildren(...(items.length
    ? items.map((item) => el("tr", { "data-digit": item.digit }, el("th", {}, item.digit), el("td", {}, name(item))))
    : [el("tr", {}, el("td", { class: "muted" }, t("cardNoAgency")))]));
}

function render() {
  translate();
  rows("reasons", card.reasons, (r) => reasonName(r.reason));
  rows("dispositions", card.dispositions, (d) => word("d_", d.disposition));
  rows("agencies", card.agencies, (a) => a.agency);
  document.getElementById("source").textContent = t(card.configured ? "cardConfigured" : "cardDefaults");
}

document.addEventListener("DOMContentLoaded", async () => {
  document.getElementById("lang").addEventListener("click", () => {
    cg.lang = cg.lang === "id" ? "en" : "id";
    localStorage.setItem("callgate-lang", cg.lang);
    render();
  });
  document.getElementById("print").addEventListener("click", () => window.print());
  render();
  const answer = await api("GET", "api/screen");
  if (answer.ok) {
    card.configured = true;
    card.reasons = answer.body.pause_reasons || card.reasons;
    card.dispositions = answer.body.dispositions || card.dispositions;
    card.agencies = answer.body.agencies || [];
  }
  render();
  document.body.dataset.ready = "1";
});
