// Wallboard: refreshed every 5 s and at once on live events.
"use strict";
(function () {
  const { api, fmtTime, el, live } = window.hotline;

  function pct(v) { return v === null || v === undefined ? "–" : (v * 100).toFixed(1) + "%"; }
  function secs(v) { const s = Math.round(v || 0); return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`; }

  async function refresh() {
    const res = await api("GET", "/api/wallboard");
    if (!res.ok) return;
    const w = res.body;
    document.getElementById("wb-waiting").textContent = w.calls_waiting;
    document.getElementById("wb-longest").textContent = secs(w.longest_wait_seconds);
    document.getElementById("wb-answered").textContent = w.today.answered;
    document.getElementById("wb-abandoned").textContent = w.today.abandoned;
    document.getElementById("wb-sl").textContent = pct(w.today.service_level);
    document.getElementById("wb-states").textContent = Object.entries(w.agents_by_state)
      .map(([k, v]) => `${k}: ${v}`).join(" · ");
    const tbody = document.querySelector("#wb-agents tbody");
    tbody.replaceChildren(...w.agents.map((a) => {
      const tr = document.createElement("tr");
      for (const c of [a.name, a.extension, a.state, a.pause_reason || "", fmtTime(a.since)]) tr.appendChild(el("td", c));
      tr.className = "state-" + a.state;
      return tr;
    }));
    document.getElementById("wb-updated").textContent = "更新 updated " + fmtTime(w.at);
  }

  document.addEventListener("DOMContentLoaded", () => {
    refresh();
    setInterval(refresh, 5000);
    let pending = null;
    for (const kind of ["call_arrived", "agent_answered", "call_ended", "agent_state_changed"]) {
      live(kind, () => { clearTimeout(pending); pending = setTimeout(refresh, 300); });
    }
  });
})();
