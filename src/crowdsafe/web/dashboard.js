// crowdsafe dashboard: zone cards and a density chart, fed by /api/live (SSE).
// Numbers, plus (for operators) the server-anonymised live view; no raw pixels ever.
"use strict";

const WINDOW_S = 600;
const COLOURS = ["#4e9af1", "#f1a94e", "#b07cf7", "#4ef1c4", "#f14e8a", "#c7f14e"];
const zones = new Map();   // zone id -> {info, el, points: [[t, density]]}
let lastSampleAt = 0;
// Who is logged in (GET /api/session): the role decides which controls are shown, and
// the CSRF token goes with every state-changing request (the session cookie alone is
// not enough, so a page of another site cannot act for the operator).
let session = { user: "", role: "viewer", csrf_token: null };
const RANKS = { viewer: 1, operator: 2, admin: 3 };
const canOperate = () => RANKS[session.role] >= RANKS.operator;

async function loadSession() {
  const r = await fetch("/api/session");
  if (r.status === 401) { window.location.assign("/login"); return false; }
  session = await r.json();
  const who = document.getElementById("whoami");
  who.textContent = `${session.user} (${session.role}) `;
  if (session.via === "session") {
    const out = document.createElement("button");
    out.id = "logout";
    out.textContent = "Log out";
    out.onclick = async () => {
      await fetch("/api/session", { method: "DELETE", headers: csrfHeaders() });
      window.location.assign("/login");
    };
    who.append(out);
  }
  return true;
}

function csrfHeaders() {
  return session.csrf_token ? { "X-CSRF-Token": session.csrf_token } : {};
}

function fmt(x, digits) { return Number(x).toFixed(digits); }

function card(z) {
  const el = document.createElement("article");
  el.className = "zone";
  el.id = "zone-" + z.id;
  el.dataset.zone = z.id;
  el.innerHTML = `<span class="los">–</span><h3></h3>
    <div class="count">–</div>
    <div class="density">– persons/m² · ${fmt(z.area_m2, 1)} m²</div>
    <div class="nowcast"></div>`;
  el.querySelector("h3").textContent = z.name;
  return el;
}

function show(sample) {
  const z = zones.get(sample.zone_id);
  if (!z) return;
  z.el.dataset.status = "ok";
  const el = z.el;
  el.className = "zone los-" + sample.los;
  el.style.background = "";
  el.querySelector(".count").textContent = fmt(sample.count, 1);
  const half = (sample.density_high_per_m2 - sample.density_low_per_m2) / 2;
  el.querySelector(".density").textContent =
    `${fmt(sample.density_per_m2, 2)} ± ${fmt(half, 2)} persons/m² · ${fmt(sample.area_m2, 1)} m²`;
  const badge = el.querySelector(".los");
  badge.textContent = sample.los;
  badge.className = "los los-" + sample.los;
  el.dataset.count = sample.count;
  el.dataset.t = sample.t;
  const pts = z.points;
  if (!pts.length || pts[pts.length - 1][0] < sample.t) pts.push([sample.t, sample.density_per_m2]);
  while (pts.length && pts[0][0] < sample.t - WINDOW_S) pts.shift();
  lastSampleAt = Date.now();
}

function draw() {
  const canvas = document.getElementById("chart");
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 40;
  ctx.clearRect(0, 0, w, h);
  let tMax = 0, yMax = 0.5;
  for (const z of zones.values()) for (const [t, d] of z.points) { tMax = Math.max(tMax, t); yMax = Math.max(yMax, d * 1.2); }
  if (!tMax) return;
  const tMin = tMax - WINDOW_S;
  const x = (t) => pad + (w - pad - 10) * (t - tMin) / WINDOW_S;
  const y = (d) => h - pad + (-(h - pad - 10)) * d / yMax;
  ctx.strokeStyle = "#2a333c"; ctx.fillStyle = "#8a98a6"; ctx.font = "12px system-ui";
  for (let i = 0; i <= 4; i++) {
    const d = yMax * i / 4;
    ctx.beginPath(); ctx.moveTo(pad, y(d)); ctx.lineTo(w - 10, y(d)); ctx.stroke();
    ctx.fillText(fmt(d, 2), 2, y(d) + 4);
  }
  // Danger references: 2 p/m² walking slows (Fruin); 5 p/m² is G. Keith Still's limit.
  for (const [d, c] of [[2, "#fee08b"], [5, "#d73027"]]) {
    if (d > yMax) continue;
    ctx.strokeStyle = c; ctx.setLineDash([4, 4]);
    ctx.beginPath(); ctx.moveTo(pad, y(d)); ctx.lineTo(w - 10, y(d)); ctx.stroke();
    ctx.setLineDash([]);
  }
  let i = 0;
  for (const z of zones.values()) {
    ctx.strokeStyle = COLOURS[i++ % COLOURS.length]; ctx.lineWidth = 2;
    ctx.beginPath();
    z.points.forEach(([t, d], k) => (k ? ctx.lineTo(x(t), y(d)) : ctx.moveTo(x(t), y(d))));
    ctx.stroke(); ctx.lineWidth = 1;
  }
}

async function loadZones() {
  const list = await (await fetch("/api/zones")).json();
  const box = document.getElementById("zones");
  const legend = document.getElementById("legend");
  const now = Date.now() / 1000;
  list.forEach((z, i) => {
    const el = card(z);
    box.appendChild(el);
    zones.set(z.id, { info: z, el, points: [] });
    const key = document.createElement("span");
    key.style.color = COLOURS[i % COLOURS.length];
    key.textContent = "■ " + z.name;
    legend.appendChild(key);
  });
  await Promise.all(list.map(async (z) => {
    // raw, whatever the browser's clock: the chart draws the 1-s samples
    const r = await fetch(`/api/zones/${encodeURIComponent(z.id)}/series?since=${now - WINDOW_S}&resolution=raw`);
    const s = await r.json();
    s.samples.forEach(show);
  }));
  draw();
}

function refreshLive(cams) {
  const box = document.getElementById("live");
  if (!canOperate()) { box.hidden = true; return; }  // the live view needs an operator
  for (const c of cams) {
    let fig = document.getElementById("live-" + c.id);
    if (!fig) {
      fig = document.createElement("figure");
      fig.id = "live-" + c.id;
      fig.innerHTML = '<img alt=""><figcaption></figcaption>';
      fig.querySelector("figcaption").textContent = c.name + " · faces and heads pixelated";
      box.appendChild(fig);
    }
    const img = fig.querySelector("img");
    img.alt = "live view of " + c.name;
    if (c.health.state === "live") img.src = `/api/cameras/${encodeURIComponent(c.id)}/live.jpg?t=${Date.now()}`;
  }
}

async function loadCameras() {
  const cams = await (await fetch("/api/cameras")).json();
  refreshLive(cams);
  const box = document.getElementById("cameras");
  box.innerHTML = "";
  for (const c of cams) {
    const h = c.health;
    const el = document.createElement("span");
    el.className = "cam state-" + h.state;
    el.dataset.camera = c.id;
    el.dataset.state = h.state;
    const lag = h.lag_p95_s === null ? "" : `, lag ${fmt(h.lag_p95_s, 2)} s`;
    const again = h.reconnects ? `, ${h.reconnects} reconnects` : "";
    el.textContent = `${c.name}: ${h.state} · in ${fmt(h.input_fps, 1)} fps · analysed ${fmt(h.analysed_fps, 1)} fps${lag}${again}`;
    if (h.last_error) el.title = "last error: " + h.last_error;
    if (h.state !== "live" && h.last_error) el.textContent += ` — ${h.last_error}`;
    box.appendChild(el);
  }
  // A zone whose camera is down shows "no data", never zero people.
  const list = await (await fetch("/api/zones")).json();
  for (const z of list) {
    const entry = zones.get(z.id);
    if (!entry) continue;
    entry.el.classList.toggle("no-data", z.status !== "ok");
    entry.el.dataset.status = z.status;
    if (z.status !== "ok") {
      entry.el.querySelector(".count").textContent = "no data";
      entry.el.querySelector(".los").textContent = "–";
      entry.el.className = "zone no-data";
    }
  }
}

function lineCard(ln) {
  const el = document.createElement("article");
  el.className = "line";
  el.id = "line-" + ln.id;
  el.innerHTML = `<span class="los">–</span><h3></h3><div class="flow">–</div><div class="dirs">in – · out –</div>`;
  el.querySelector("h3").textContent = ln.name;
  return el;
}

const lines = new Map();

function showLine(s) {
  let el = lines.get(s.line_id);
  if (!el) return;
  el.className = "line los-" + s.los;
  el.querySelector(".flow").textContent = `${fmt(s.flow_per_m_min, 1)} persons/m/min`;
  el.querySelector(".dirs").textContent = `in ${s.count_in} · out ${s.count_out} per ${fmt(s.bucket_s, 0)} s · ${fmt(s.width_m, 1)} m wide`;
  const badge = el.querySelector(".los");
  badge.textContent = s.los;
  badge.className = "los los-" + s.los;
}

async function loadLines() {
  const r = await fetch("/api/lines");
  if (!r.ok) return;
  const box = document.getElementById("lines");
  for (const ln of await r.json()) {
    const el = lineCard(ln);
    lines.set(ln.id, el);
    box.appendChild(el);
    if (ln.latest) showLine(ln.latest);
  }
}

async function act(id, what) {
  const r = await fetch(`/api/alerts/${encodeURIComponent(id)}/${what}`, { method: "POST", headers: csrfHeaders() });
  if (!r.ok) {
    const body = await r.json().catch(() => ({}));
    alert(`${what} failed: ${body.detail || r.status}`);
  }
  loadAlerts();
}

// "by alice" from the alert's audit trail (operators see who acted on an alert).
async function actedBy(id, action) {
  if (!canOperate()) return "";
  const r = await fetch(`/api/alerts/${encodeURIComponent(id)}/audit`);
  if (!r.ok) return "";
  const entry = (await r.json()).find((e) => e.action === action);
  return entry ? " by " + entry.actor : "";
}

async function loadAlerts() {
  const list = await (await fetch("/api/alerts?state=active")).json();
  const ul = document.getElementById("alert-list");
  ul.innerHTML = "";
  if (!list.length) {
    ul.innerHTML = '<li class="none">No active alerts</li>';
    return;
  }
  for (const a of list) {
    const li = document.createElement("li");
    li.dataset.alert = a.id;
    li.dataset.state = a.state;
    const lvl = document.createElement("span");
    lvl.className = "lvl lvl-" + a.level;
    lvl.textContent = a.level;
    const msg = document.createElement("span");
    msg.className = "msg";
    msg.textContent = a.message;
    li.append(lvl, msg);
    if (a.state === "open") {
      if (canOperate()) {
        const ack = document.createElement("button");
        ack.textContent = "Acknowledge";
        ack.onclick = () => act(a.id, "acknowledge");
        li.append(ack);
      }
    } else {
      const note = document.createElement("span");
      note.className = "acked";
      note.textContent = "acknowledged " + new Date(a.acknowledged_at * 1000).toLocaleTimeString();
      li.append(note);
      actedBy(a.id, "alert_acknowledge").then((by) => { note.textContent += by; });
    }
    if (canOperate()) {
      const res = document.createElement("button");
      res.textContent = "Resolve";
      res.onclick = () => act(a.id, "resolve");
      li.append(res);
    }
    ul.append(li);
  }
}

async function loadNowcasts() {
  for (const [id, z] of zones) {
    const el = z.el.querySelector(".nowcast");
    const r = await fetch(`/api/zones/${encodeURIComponent(id)}/nowcast`);
    if (!r.ok) { el.textContent = ""; continue; }
    const nc = await r.json();
    const p = nc.points.find((q) => q.horizon_s === 900) || nc.points[0];
    const trend = nc.trend_significant ? ` · ${nc.trend_per_min > 0 ? "+" : ""}${fmt(nc.trend_per_min, 1)}/min` : "";
    el.textContent = `in ${Math.round(p.horizon_s / 60)} min: ${fmt(p.count, 0)} (${fmt(p.low_80, 0)}–${fmt(p.high_80, 0)})${trend}`;
  }
}

async function loadPlan() {
  const body = document.getElementById("plan-body");
  const r = await fetch("/api/staffing?hours=12");
  if (!r.ok) { body.textContent = "no forecast yet"; return; }
  const plan = await r.json();
  if (!plan.slots.length) {
    body.textContent = "Not enough history for a forecast yet (two weeks of samples are needed).";
    return;
  }
  const times = [...new Set(plan.slots.map((s) => s.t))].sort((a, b) => a - b);
  const ids = [...new Set(plan.slots.map((s) => s.zone_id))];
  const at = new Map(plan.slots.map((s) => [s.zone_id + "@" + s.t, s]));
  const table = document.createElement("table");
  const head = table.insertRow();
  head.insertCell().textContent = "zone";
  for (const t of times) head.insertCell().textContent = new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  for (const id of ids) {
    const row = table.insertRow();
    row.insertCell().textContent = zones.has(id) ? zones.get(id).info.name : id;
    for (const t of times) {
      const s = at.get(id + "@" + t);
      const cell = row.insertCell();
      if (!s) continue;
      cell.className = "los-cell los-" + s.los;
      cell.textContent = `${fmt(s.people, 0)} · ${s.stewards}`;
      cell.title = `${fmt(s.people, 0)} people (80 % upper bound), ${fmt(s.density_per_m2, 2)} p/m², LoS ${s.los}: ${s.stewards} stewards`;
    }
  }
  const total = table.insertRow();
  total.insertCell().textContent = "stewards";
  for (const t of times) {
    const n = plan.total_by_slot.find((x) => x.t === t);
    total.insertCell().textContent = n ? n.stewards : "";
  }
  body.replaceChildren(table);
  if (plan.zones_without_forecast.length) {
    const note = document.createElement("p");
    note.className = "muted";
    note.textContent = "No forecast: " + plan.zones_without_forecast.join("; ");
    body.append(note);
  }
}

function connect() {
  const conn = document.getElementById("conn");
  const es = new EventSource("/api/live");
  es.onopen = () => { conn.textContent = "live"; conn.className = "conn on"; };
  es.onerror = () => { conn.textContent = "reconnecting…"; conn.className = "conn off"; };
  es.addEventListener("sample", (ev) => { show(JSON.parse(ev.data)); });
  es.addEventListener("line", (ev) => { showLine(JSON.parse(ev.data)); });
  es.addEventListener("alert", () => { loadAlerts(); });
}

fetch("/healthz").then((r) => r.json()).then((h) => {
  document.getElementById("site").textContent = "· " + h.site;
  document.title = h.site + " — crowdsafe";
});
loadSession().then((ok) => {
  if (!ok) return;
  Promise.all([loadZones(), loadLines()]).then(() => {
    connect();
    loadNowcasts();
    loadPlan();
  });
  setInterval(loadNowcasts, 30000);
  setInterval(loadPlan, 300000);
  loadAlerts();
  setInterval(loadAlerts, 5000);
  loadCameras();
  setInterval(loadCameras, 2000);
});
setInterval(draw, 1000);
setInterval(() => {
  document.getElementById("clock").textContent = new Date().toLocaleTimeString() +
    (lastSampleAt && Date.now() - lastSampleAt > 10000 ? " · no data for " + Math.round((Date.now() - lastSampleAt) / 1000) + " s" : "");
}, 1000);
