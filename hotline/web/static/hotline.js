// Shared helpers: JSON API calls with the session's CSRF token, readable errors, and one live
// connection (Server-Sent Events) per page that every script of the page listens on.
"use strict";
(function () {
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.content : "";

  function toast(text, bad) {
    const el = document.getElementById("toast");
    if (!el) return;
    el.textContent = text;
    el.className = bad ? "show bad" : "show";
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { el.className = ""; }, 5000);
  }

  // Every refusal names the field: {"detail": [{"field": "phone", "msg": "..."}], "message": ...}
  function describe(body, status) {
    if (body && body.message) return body.message;
    if (body && typeof body.detail === "string") return body.detail;
    if (body && Array.isArray(body.detail)) return body.detail.map((d) => `${d.field}: ${d.msg}`).join("; ");
    return `HTTP ${status}`;
  }

  async function api(method, url, payload) {
    const init = { method, headers: { "Accept": "application/json" }, credentials: "same-origin" };
    if (method !== "GET") init.headers["X-CSRF-Token"] = csrf;
    if (payload !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(payload);
    }
    const res = await fetch(url, init);
    if (res.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); }
    let body = null;
    const type = res.headers.get("content-type") || "";
    if (type.includes("json")) body = await res.json();
    const result = { ok: res.ok, status: res.status, body, error: res.ok ? null : describe(body, res.status) };
    if (!res.ok) toast(result.error, true);
    return result;
  }

  function fmtTime(iso) {
    if (!iso) return "";
    return iso.replace("T", " ").slice(0, 16);
  }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  // One EventSource per page (browsers allow few connections per site); scripts register
  // handlers by event kind: hotline.live("call_offered", (data) => ...).
  let source = null;
  const handlers = {};
  function live(kind, fn) {
    if (!window.EventSource) return;
    if (!source) {
      source = new EventSource("/api/live");
      source.addEventListener("hello", () => { document.body.dataset.live = "on"; });
      source.onerror = () => { document.body.dataset.live = "off"; };
    }
    if (!handlers[kind]) {
      handlers[kind] = [];
      source.addEventListener(kind, (ev) => {
        const data = JSON.parse(ev.data);
        for (const f of handlers[kind]) f(data);
      });
    }
    handlers[kind].push(fn);
  }

  window.hotline = { api, toast, fmtTime, el, csrf, live };

  document.addEventListener("DOMContentLoaded", () => {
    const logout = document.getElementById("logout");
    if (logout) logout.addEventListener("click", async () => {
      await api("POST", "/api/auth/logout");
      location.href = "/login";
    });
  });
})();
