// traffic-risk live dashboard. Data reaches the DOM only through textContent and
// setAttribute of plain values: nothing from Redis is ever parsed as HTML.
"use strict";

const MAX_ITEMS = 50;
const SERIES_POINTS = 30;
const MAX_CAMERAS = 100; // as the server's snapshot: the cameras with the newest windows
const SVG_NS = "http://www.w3.org/2000/svg";
const token = new URLSearchParams(location.search).get("token");
const state = {
  alerts: new Map(), risks: new Map(), cameras: new Map(), keypool: [],
  offsetMs: 0, serverLagMs: null, snapshots: 0,
};

function withToken(path) {
  return token ? `${path}?token=${encodeURIComponent(token)}` : path;
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function clock(ms) {
  return typeof ms === "number" ? new Date(ms).toISOString().slice(11, 19) : "-";
}

function seconds(ms) {
  if (ms === null || ms === undefined) return "-";
  return ms < 120000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60000)} min`;
}

function keep(map, id, doc, timeOf) {
  map.set(id, doc);
  if (map.size <= MAX_ITEMS) return;
  const oldest = [...map.entries()].sort((a, b) => timeOf(a[1]) - timeOf(b[1]))[0];
  map.delete(oldest[0]);
}

const riskId = (r) => `${r.camera_id}/${r.frame_id}/${r.group_id}`;
const addAlert = (a) => keep(state.alerts, String(a.alert_id), a, (x) => x.end_ms || 0);
const addRisk = (r) => keep(state.risks, riskId(r), r, (x) => x.captured_at_ms || 0);

function addStats(stats) {
  const cam = state.cameras.get(stats.camera_id) || { latest: null, series: new Map() };
  cam.series.set(stats.window_start_ms, stats);
  while (cam.series.size > SERIES_POINTS) cam.series.delete(Math.min(...cam.series.keys()));
  if (!cam.latest || cam.latest.window_start_ms <= stats.window_start_ms) cam.latest = stats;
  state.cameras.set(stats.camera_id, cam);
  if (state.cameras.size <= MAX_CAMERAS) return;
  const stalest = [...state.cameras.entries()]
    .sort((a, b) => a[1].latest.window_end_ms - b[1].latest.window_end_ms)[0];
  state.cameras.delete(stalest[0]);
}

function applySnapshot(snap) {
  state.alerts.clear(); state.risks.clear(); state.cameras.clear();
  snap.alerts.forEach(addAlert);
  snap.risks.forEach(addRisk);
  for (const cam of snap.cameras) {
    cam.series.forEach(addStats);
    if (cam.latest) addStats(cam.latest);
  }
  state.keypool = snap.keypool;
  state.serverLagMs = snap.lag_ms;
  state.snapshots += 1;
}

function renderAlerts() {
  const items = [...state.alerts.values()].sort((a, b) => (b.end_ms || 0) - (a.end_ms || 0));
  const list = document.getElementById("alerts");
  list.replaceChildren(...items.map((a) => {
    const li = el("li", null, "alert");
    li.dataset.alertId = String(a.alert_id);
    li.append(el("span", clock(a.end_ms), "time"),
      el("span", a.severity, `badge sev-${String(a.severity)}`),
      el("b", a.pattern), el("span", a.camera_id, "camera-id"),
      el("span", a.description, "description"));
    return li;
  }));
  document.getElementById("alerts-empty").hidden = items.length > 0;
}

function renderRisks() {
  const items = [...state.risks.values()]
    .sort((a, b) => (b.captured_at_ms || 0) - (a.captured_at_ms || 0));
  const list = document.getElementById("risks");
  list.replaceChildren(...items.map((r) => {
    const li = el("li", null, "risk");
    li.dataset.riskId = riskId(r);
    if (r.crop_available && /^[0-9a-f]{64}$/.test(r.crop_sha256)) {
      const img = el("img", null, "thumb");
      img.alt = "crop";
      img.src = withToken(`crop/${r.crop_sha256}`);
      li.append(img);
    }
    li.append(el("span", clock(r.captured_at_ms), "time"),
      el("span", r.risk_level, `badge lvl-${String(r.risk_level)}`),
      el("span", r.camera_id, "camera-id"), el("span", r.reason, "reason"),
      el("span", [r.source, r.key_id].filter(Boolean).join(" / "), "time"));
    return li;
  }));
  document.getElementById("risks-empty").hidden = items.length > 0;
}

function renderKeypool() {
  const table = document.getElementById("keypool");
  const columns = ["key_id", ...new Set(state.keypool.flatMap(Object.keys))]
    .filter((c, i, all) => all.indexOf(c) === i);
  const head = el("tr");
  head.append(...columns.map((c) => el("th", c)));
  table.tHead.replaceChildren(head);
  table.tBodies[0].replaceChildren(...state.keypool.map((entry) => {
    const row = el("tr");
    row.dataset.keyId = String(entry.key_id);
    row.append(...columns.map((c) => el("td", entry[c] === undefined ? "" : entry[c])));
    return row;
  }));
  document.getElementById("keypool-empty").hidden = state.keypool.length > 0;
}

function chart(series) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 100 40");
  svg.setAttribute("preserveAspectRatio", "none");
  const n = series.length;
  const peak = Math.max(1, ...series.map((s) => Number(s.vehicles) || 0));
  series.forEach((s, i) => {
    const bar = document.createElementNS(SVG_NS, "rect");
    const h = 40 * Math.min(1, Math.max(0, Number(s.congestion_index) || 0));
    bar.setAttribute("x", String((100 * i) / n));
    bar.setAttribute("width", String(Math.max(0.5, 100 / n - 0.5)));
    bar.setAttribute("y", String(40 - h));
    bar.setAttribute("height", String(h));
    svg.append(bar);
  });
  const line = document.createElementNS(SVG_NS, "polyline");
  const step = n > 1 ? 100 / (n - 1) : 0;
  line.setAttribute("points", series.map((s, i) =>
    `${(i * step).toFixed(2)},${(38 - (36 * (Number(s.vehicles) || 0)) / peak).toFixed(2)}`,
  ).join(" "));
  svg.append(line);
  return svg;
}

function renderCameras() {
  const names = [...state.cameras.keys()].sort();
  document.getElementById("cameras").replaceChildren(...names.map((name) => {
    const cam = state.cameras.get(name);
    const series = [...cam.series.values()].sort((a, b) => a.window_start_ms - b.window_start_ms);
    const last = cam.latest;
    const box = el("div", null, "camera");
    box.dataset.cameraId = name;
    box.append(el("div", name, "name"),
      el("div", `${clock(last.window_start_ms)}  vehicles ${last.vehicles}  people `
        + `${last.pedestrians}  congestion ${Number(last.congestion_index).toFixed(2)}`, "nums"),
      chart(series));
    return box;
  }));
  document.getElementById("camera-count").textContent = String(names.length);
}

function renderLag() {
  const ends = [...state.cameras.values()].map((c) => c.latest.window_end_ms);
  const lag = ends.length ? Math.max(0, Date.now() + state.offsetMs - Math.max(...ends))
    : state.serverLagMs;
  document.getElementById("lag").textContent = seconds(lag);
}

function setStatus(value) {
  const status = document.getElementById("status");
  status.dataset.state = value;
  status.dataset.snapshots = String(state.snapshots);
  status.textContent = value;
}

const handlers = {
  snapshot: (m) => { applySnapshot(m); renderAll(); setStatus("live"); },
  stats: (m) => { addStats(m.data); renderCameras(); renderLag(); },
  alert: (m) => { addAlert(m.data); renderAlerts(); },
  risk: (m) => { addRisk(m.data); renderRisks(); },
  error: (m) => { setStatus(String(m.message)); },
  health: (m) => { state.keypool = m.keypool; state.serverLagMs = m.lag_ms; renderKeypool(); },
};

function renderAll() { renderAlerts(); renderRisks(); renderKeypool(); renderCameras(); renderLag(); }

let backoffMs = 500;
function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const base = location.pathname.replace(/[^/]*$/, "");
  const socket = new WebSocket(`${scheme}://${location.host}${withToken(`${base}ws`)}`);
  socket.onopen = () => { backoffMs = 500; };
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (typeof message.server_time_ms === "number") {
      state.offsetMs = message.server_time_ms - Date.now();
    }
    const handle = handlers[message.type];
    if (handle) handle(message);
  };
  socket.onclose = () => {
    const status = document.getElementById("status").dataset.state;
    if (status === "live" || status === "connecting") setStatus("reconnecting");
    setTimeout(connect, backoffMs);
    backoffMs = Math.min(backoffMs * 2, 5000);
  };
}

window.trafficDashboard = { state };
setInterval(renderLag, 1000);
connect();
