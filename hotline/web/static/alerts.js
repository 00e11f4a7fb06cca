// Escalations and alerts for team leaders, supervisors and admins, on every page they open:
// open escalations are listed at load (one raised while no page was open is not missed) and
// new ones arrive live; each stays until someone acknowledges it.
"use strict";
(function () {
  const { api, toast, fmtTime, el, live } = window.hotline;
  const shown = new Map(); // escalation id -> element

  function banner(e) {
    const box = document.getElementById("alerts");
    if (!box) return;
    let item = shown.get(e.id);
    if (!item) {
      item = el("div", null, "escalation");
      item.dataset.escalationId = e.id;
      shown.set(e.id, item);
      box.prepend(item);
    }
    item.replaceChildren();
    item.appendChild(el("strong", "敲诈勒索来电 Extortion call"));
    item.appendChild(el("span", ` ${e.call_key} · ${fmtTime(e.raised_at)}` +
      (e.raised_by ? ` · 标记人 flagged by ${e.raised_by}` : "") +
      (e.reason_text ? ` · ${e.reason_text}` : "")));
    if (e.recording_id) {
      const a = el("a", " 录音 recording");
      a.href = `/recordings#recording-${e.recording_id}`;
      item.appendChild(a);
    }
    if (e.status === "open") {
      const b = el("button", "确认处理 Acknowledge");
      b.type = "button";
      b.addEventListener("click", async () => {
        const res = await api("POST", `/api/escalations/${e.id}/acknowledge`);
        if (res.ok) banner(res.body);
      });
      item.appendChild(b);
    } else {
      item.classList.add("acknowledged");
      item.appendChild(el("span", ` · 已由 ${e.acknowledged_by || "?"} 确认 acknowledged`));
    }
  }

  async function refresh() {
    const res = await api("GET", "/api/escalations");
    if (res.ok) for (const e of res.body.slice().reverse()) banner(e);
  }

  document.addEventListener("DOMContentLoaded", () => {
    live("escalation_raised", (data) => {
      toast("敲诈勒索来电 extortion call: " + data.call_key, true);
      // Shown at once from the event, then completed (local time, who flagged) from the API.
      banner({ id: data.escalation_id, call_key: data.call_key, raised_at: "",
               reason_text: (data.data || {}).reason_text, status: "open" });
      refresh();
    });
    live("alert", (data) => toast(data.message, true));
    refresh();
  });
})();
