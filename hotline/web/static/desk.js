// Agent desk: state buttons, missed calls and follow-ups, the live caller card, record forms,
// flags. The call on the desk (currentCall) comes from the bridge's live events, or from
// /api/desk after a reload; records and flags name it by its call key, which the server
// resolves to the stored call.
"use strict";
(function () {
  const { api, toast, fmtTime, el, live } = window.hotline;
  let currentCall = null; // {call_key, caller_number, category, ended}
  let cardPhone = null; // the number whose card is shown
  let categoryTouched = false; // the agent chose the note's category: the IVR's no longer applies

  function row(cells) {
    const tr = document.createElement("tr");
    for (const c of cells) tr.appendChild(el("td", c));
    return tr;
  }

  async function loadDesk() {
    const res = await api("GET", "/api/desk");
    if (!res.ok) return;
    const d = res.body;
    document.getElementById("agent-state").textContent = d.agent.state;
    document.getElementById("agent-reason").textContent = d.agent.pause_reason || "";
    document.getElementById("missed-since").textContent = "自 since " + fmtTime(d.missed_since);
    const missed = document.querySelector("#missed tbody");
    missed.replaceChildren(...d.missed_calls.map((m) => row([
      fmtTime(m.call.arrived_at), m.call.caller_number || "—", m.call.disposition,
      m.rang_me ? "是 yes" : "", m.followed_up ? "是 yes" : "否 no"])));
    if (!d.missed_calls.length) missed.appendChild(row(["无 none", "", "", "", ""]));
    const follow = document.querySelector("#followups tbody");
    const items = [
      ...d.follow_ups.tasks.map((t) => ["回电 " + t.type, t.phone, t.due_at]),
      ...d.follow_ups.cases.map((c) => ["个案 case #" + c.id, c.event, c.reply_due_at]),
      ...d.follow_ups.complaints.map((c) => ["投诉 complaint #" + c.id, c.description, c.due_at]),
    ];
    follow.replaceChildren(...items.map((i) => row([i[0], i[1], fmtTime(i[2])])));
    if (!items.length) follow.appendChild(row(["无 none", "", ""]));
    if (d.current_call && !currentCall) {
      setCall({ call_key: d.current_call.call_key, caller_number: d.current_call.caller_number,
                category: d.current_call.category, ended: !!d.current_call.ended_at });
    }
  }

  // The call on the desk: shown in the records and flag panels, its caller's card loaded.
  function setCall(call) {
    const fresh = !currentCall || currentCall.call_key !== call.call_key;
    currentCall = Object.assign(fresh ? {} : currentCall, call);
    if (fresh) categoryTouched = false;
    const label = `通话 call ${currentCall.call_key} ${currentCall.caller_number || ""}` +
      (currentCall.category ? ` · ${currentCall.category}` : "") +
      (currentCall.ended ? " · 已结束 ended" : "");
    document.getElementById("current-call").textContent = label;
    document.getElementById("flag-call").textContent = label;
    for (const b of document.querySelectorAll("[data-flag]")) b.disabled = false;
    const category = document.querySelector('#note-form [name="category"]');
    if (currentCall.category && !categoryTouched && category) category.value = currentCall.category;
    if (fresh && currentCall.caller_number) showCard(currentCall.caller_number);
    else if (fresh) {
      cardPhone = null;
      document.getElementById("card-body").replaceChildren(el("p", "号码未显示 the caller's number is withheld", "hint"));
    }
  }

  function renderCard(card) {
    const body = document.getElementById("card-body");
    body.replaceChildren();
    const head = el("p");
    head.appendChild(el("strong", card.customer ? (card.customer.name || "(未填姓名 no name)") : "新来电 unknown caller"));
    head.appendChild(el("span", " " + (card.phone || "")));
    if (card.customer && card.customer.is_vip) head.appendChild(el("span", "VIP", "badge"));
    if (card.customer && card.customer.is_member) head.appendChild(el("span", "会员 member", "badge"));
    body.appendChild(head);
    if (card.blacklisted) {
      body.appendChild(el("p", "黑名单 BLACKLISTED: " + card.blacklist.reason, "blacklisted"));
    }
    if (card.customer) {
      body.appendChild(el("p", [card.customer.work_unit, card.customer.tier].filter(Boolean).join(" · ")));
    }
    const lists = [
      ["最近来电 Past calls", card.past_calls.map((c) => `${fmtTime(c.arrived_at)} ${c.disposition || ""} ${c.category || ""}`)],
      ["记录 Notes", card.notes.map((n) => `${fmtTime(n.created_at)} [${n.category}/${n.outcome}] ${n.content}`)],
      ["未结个案 Open cases", card.open_cases.map((c) => `#${c.id} ${c.event} (期限 due ${fmtTime(c.reply_due_at)})`)],
      ["未结投诉 Open complaints", card.open_complaints.map((c) => `#${c.id} ${c.description} (期限 due ${fmtTime(c.due_at)})`)],
    ];
    for (const [title, items] of lists) {
      body.appendChild(el("h3", `${title} (${items.length})`));
      const ul = el("ul");
      for (const i of items) ul.appendChild(el("li", i));
      body.appendChild(ul);
    }
    const phone = card.phone || "";
    for (const sel of ['#case-form [name="contact_phone"]', '#callback-form [name="phone"]']) {
      const input = document.querySelector(sel);
      if (input && !input.value) input.value = phone;
    }
    document.getElementById("caller-card").dataset.customerId = card.customer ? card.customer.id : "";
  }

  async function showCard(phone) {
    if (!phone) return;
    cardPhone = phone;
    const res = await api("GET", "/api/customers/card?phone=" + encodeURIComponent(phone));
    if (res.ok) renderCard(res.body);
  }

  function localToIso(value) {
    if (!value) return null;
    // datetime-local has no zone: the times agents type are the hotline's (Asia/Shanghai),
    // whatever zone the browser's computer is set to.
    const offset = document.querySelector(".desk").dataset.tzOffset || "+08:00";
    return (value.length === 16 ? value + ":00" : value) + offset;
  }

  function formPayload(form) {
    const data = {};
    for (const [k, v] of new FormData(form).entries()) data[k] = v;
    if (currentCall && form.id !== "callback-form") data.call_key = currentCall.call_key;
    const customerId = document.getElementById("caller-card").dataset.customerId;
    if (form.id !== "callback-form" && customerId) data.customer_id = Number(customerId);
    if (form.id === "case-form") data.occurred_at = localToIso(data.occurred_at);
    if (form.id === "callback-form") {
      data.due_at = localToIso(data.due_at);
      if (!data.due_at) delete data.due_at;
      if (customerId) data.customer_id = Number(customerId);
    }
    return data;
  }

  function wireForms() {
    for (const form of document.querySelectorAll("form[data-api]")) {
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const res = await api("POST", form.dataset.api, formPayload(form));
        const msg = document.getElementById("form-message");
        if (res.ok) {
          msg.textContent = `已保存 Saved #${res.body.id}`;
          msg.className = "form-message ok";
          toast(`已保存 Saved #${res.body.id}`);
          form.reset();
          loadDesk();
          if (cardPhone) showCard(cardPhone);  // the new record shows on the card
        } else {
          msg.textContent = res.error;
          msg.className = "form-message bad";
        }
      });
    }
    for (const tab of document.querySelectorAll(".tabs button")) {
      tab.addEventListener("click", () => {
        for (const t of document.querySelectorAll(".tabs button")) t.classList.toggle("active", t === tab);
        for (const f of document.querySelectorAll("[data-tab-body]")) f.hidden = f.dataset.tabBody !== tab.dataset.tab;
      });
    }
    const category = document.querySelector('#note-form [name="category"]');
    if (category) category.addEventListener("change", () => { categoryTouched = true; });
    document.getElementById("card-lookup").addEventListener("submit", (ev) => {
      ev.preventDefault();
      showCard(new FormData(ev.target).get("phone"));
    });
  }

  function wireState() {
    const msg = document.getElementById("state-message");
    for (const b of document.querySelectorAll("[data-state]")) {
      b.addEventListener("click", async () => {
        const s = b.dataset.state;
        let res;
        if (s === "login" || s === "logout") res = await api("POST", `/api/desk/${s}`);
        else res = await api("POST", "/api/desk/state", s === "paused"
          ? { state: "paused", reason: document.getElementById("pause-reason").value }
          : { state: "ready" });
        msg.textContent = res.ok ? `已请求 requested: ${res.body.requested}` : res.error;
        if (res.ok) setTimeout(loadDesk, 500);
      });
    }
  }

  const STEPS = {
    warning: "已向来电者播放文明用语警告 the caller heard the civil-language warning (S15)",
    ended: "已播放结束语并结束通话 the closing line was played and the call ended (S16)",
    procedure: "已向来电者说明处理程序 the caller heard the company's procedure",
    none: "未向来电者播放 nothing was played to the caller",
  };

  function wireFlags() {
    const msg = document.getElementById("flag-message");
    for (const b of document.querySelectorAll("[data-flag]")) {
      b.addEventListener("click", async () => {
        const body = {
          reason: b.dataset.flag,
          reason_text: document.getElementById("flag-text").value,
          blacklist: document.getElementById("flag-blacklist").checked,
        };
        if (currentCall) body.call_key = currentCall.call_key;
        const res = await api("POST", "/api/recordings/flags", body);
        if (!res.ok) {
          msg.textContent = res.error;
          msg.className = "form-message bad";
          return;
        }
        const r = res.body;
        const parts = [`已标记 flagged ${r.reason} #${r.flag_id}`, STEPS[r.step] || r.step];
        if (r.escalation_id) parts.push(`已上报值班班长和主管 escalated #${r.escalation_id}`);
        if (r.blacklisted) parts.push("号码已加入黑名单 number blacklisted");
        if (r.pbx_error) parts.push(`交换机未执行 the PBX did not act: ${r.pbx_error}`);
        msg.textContent = parts.join(" · ");
        msg.className = r.pbx_error ? "form-message bad" : "form-message ok";
        toast(parts[0]);
        document.getElementById("flag-text").value = "";
        document.getElementById("flag-blacklist").checked = false;
        if (r.blacklisted && cardPhone) showCard(cardPhone);
      });
    }
  }

  function wireLive() {
    const card = document.getElementById("caller-card");
    live("call_offered", (data) => {
      setCall({ call_key: data.call_key, caller_number: data.caller_number, ended: false });
      card.classList.add("ringing");
    });
    live("agent_answered", (data) => {
      card.classList.remove("ringing");
      setCall({ call_key: data.call_key, caller_number: data.caller_number, ended: false });
    });
    live("call_updated", (data) => {
      if (currentCall && data.call_key === currentCall.call_key) {
        setCall({ call_key: data.call_key, category: data.category,
                  caller_number: currentCall.caller_number || data.caller_number });
      }
    });
    live("call_ended", (data) => {
      if (currentCall && data.call_key === currentCall.call_key) {
        card.classList.remove("ringing");
        setCall({ call_key: data.call_key, ended: true });
      }
      setTimeout(loadDesk, 1000);
    });
    live("agent_state_changed", (data) => {
      document.getElementById("agent-state").textContent = data.state;
      document.getElementById("agent-reason").textContent = data.reason || "";
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    wireForms();
    wireState();
    wireFlags();
    wireLive();
    loadDesk();
  });
})();
