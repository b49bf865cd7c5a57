// traffic-risk operator dashboard. Data reaches the DOM only through textContent and
// setAttribute of plain values: nothing from Redis is ever parsed as HTML.
"use strict";

const MAX_VERDICTS = 50;
const SERIES_POINTS = 30;
const MAX_CAMERAS = 1000; // as the server's snapshot: the cameras with the newest windows
const PAGE_SIZE = 24; // camera cards per page: 1,000 cameras never means 1,000 cards
// Risk levels under the severity filter: "warning and critical" hides low and no risk.
const RISK_SEVERITY = { none: "info", low: "info", medium: "warning", high: "critical" };
const state = {
  incidents: new Map(), groups: new Map(), risks: new Map(), cameras: new Map(), keypool: [],
  source: "alerts", serverLagMs: null, snapshots: 0, page: 0, renders: 0,
  lastRenderMs: null,
};

// ---- state
const riskId = (r) => `${r.camera_id}/${r.frame_id}/${r.group_id}`;

function addRisk(r) {
  state.risks.set(riskId(r), r);
  if (state.risks.size > MAX_VERDICTS) {
    const oldest = [...state.risks.entries()]
      .sort((a, b) => (a[1].captured_at_ms || 0) - (b[1].captured_at_ms || 0))[0];
    state.risks.delete(oldest[0]);
  }
  const cam = state.cameras.get(r.camera_id);
  if (cam && r.crop_available) cam.picture = r.crop_sha256;
}

function addStats(s) {
  const cam = state.cameras.get(s.camera_id)
    || { latest: null, series: new Map(), picture: null, openIncidents: 0 };
  cam.series.set(s.window_start_ms, [s.window_start_ms, s.window_end_ms, s.vehicles,
    s.congestion_index]);
  while (cam.series.size > SERIES_POINTS) cam.series.delete(Math.min(...cam.series.keys()));
  if (!cam.latest || cam.latest.window_start_ms <= s.window_start_ms) cam.latest = s;
  state.cameras.set(s.camera_id, cam);
  if (state.cameras.size <= MAX_CAMERAS) return;
  let stalest = null;
  for (const [name, c] of state.cameras) {
    if (!stalest || c.latest.window_end_ms < stalest[1]) stalest = [name, c.latest.window_end_ms];
  }
  state.cameras.delete(stalest[0]);
}

function addIncident(doc) {
  if (doc.status !== "open") state.incidents.delete(doc.incident_id);
  else state.incidents.set(doc.incident_id, doc);
  state.source = "incidents";
  countIncidents();
}

function countIncidents() {
  for (const cam of state.cameras.values()) cam.openIncidents = 0;
  for (const inc of state.incidents.values()) {
    const cam = state.cameras.get(inc.camera_id);
    if (cam) cam.openIncidents += 1;
  }
}

function applySnapshot(snap) {
  state.incidents.clear(); state.groups.clear(); state.risks.clear(); state.cameras.clear();
  for (const cam of snap.cameras) {
    state.cameras.set(cam.camera_id, {
      latest: cam.latest, picture: cam.picture, openIncidents: cam.open_incidents,
      series: new Map(cam.series.map((p) => [p[0], p])),
    });
  }
  snap.incidents.forEach((i) => state.incidents.set(i.incident_id, i));
  snap.alert_groups.forEach((g) => state.groups.set(g.group_id, g));
  snap.risks.forEach(addRisk);
  state.source = snap.incidents_source;
  state.keypool = snap.keypool;
  state.serverLagMs = snap.lag_ms;
  state.snapshots += 1;
  countIncidents();
}

// ---- filters
function filters() {
  return {
    text: document.getElementById("filter").value.trim().toLowerCase(),
    minRank: SEVERITY_RANK[document.getElementById("severity").value] || 0,
  };
}

function matches(f, cameraId, severity) {
  const okText = !f.text || String(cameraId).toLowerCase().includes(f.text);
  return okText && (severity === undefined || (SEVERITY_RANK[severity] || 0) >= f.minRank);
}

// ---- rendering, at most once per frame whatever the message rate
const dirty = new Set();
let frameRequested = false;
function schedule(...parts) {
  parts.forEach((p) => dirty.add(p));
  if (frameRequested) return;
  frameRequested = true;
  requestAnimationFrame(() => {
    frameRequested = false;
    const started = performance.now();
    const parts = [...dirty];
    dirty.clear();
    parts.forEach((p) => renderers[p]());
    state.renders += 1;
    state.lastRenderMs = performance.now() - started;
  });
}

function incidentCard(inc) {
  const li = el("li", null, `card incident sev-border-${inc.severity}`);
  li.dataset.incidentId = inc.incident_id;
  if (inc.action) li.dataset.action = inc.action.action;
  const body = el("div", null, "card-body");
  const title = el("div", null, "card-title");
  title.append(severityBadge(inc.severity), el("b", `${inc.kind} at ${inc.place}`),
    cameraLink(inc.camera_id));
  const meta = el("div", `since ${fmt.time(inc.opened_at_ms)} (`, "meta");
  meta.append(ago(inc.opened_at_ms), `) · ${inc.alert_count} alert`
    + `${inc.alert_count === 1 ? "" : "s"} · last ${fmt.time(inc.updated_at_ms)}`);
  body.append(title, meta,
    el("div", inc.description, "description"));
  if (inc.action) {
    const verb = inc.action.action === "resolve" ? "resolved" : "acknowledged";
    body.append(el("div", `${verb} by ${inc.action.actor} at ${fmt.time(inc.action.at_ms)}`
      + (inc.action.note ? `: ${inc.action.note}` : ""), "action-note"));
  }
  body.append(actionButtons(inc));
  li.append(picture(inc.crop_sha256, inc.crop_available, `evidence of ${inc.incident_id}`), body);
  return li;
}

function actionButtons(inc) {
  const bar = el("div", null, "actions");
  const error = el("span", null, "error");
  error.setAttribute("role", "alert");
  for (const [action, label] of [["acknowledge", "Acknowledge"], ["resolve", "Resolve"]]) {
    const button = el("button", label);
    button.type = "button";
    button.dataset.action = action;
    button.disabled = inc.action?.action === action || inc.action?.action === "resolve";
    button.addEventListener("click", () => act(inc.incident_id, action, button, error));
    bar.append(button);
  }
  bar.append(error);
  return bar;
}

async function act(incidentId, action, button, error) {
  button.disabled = true;
  error.textContent = "";
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    const response = await fetch(
      `api/incidents/${encodeURIComponent(incidentId)}/${action}`,
      { method: "POST", headers, body: "{}" });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
    applyAction(incidentId, body.action);
  } catch (err) {
    button.disabled = false;
    error.textContent = `${action} failed: ${err.message}`;
  }
}

function applyAction(incidentId, action) {
  const inc = state.incidents.get(incidentId);
  if (inc) inc.action = action;
  schedule("incidents");
  if (cameraPage.doc) {
    const mine = cameraPage.doc.incidents.find((i) => i.incident_id === incidentId);
    if (mine) { mine.action = action; renderCameraPage(); }
  }
}

function sortIncidents(items) {
  const acted = (i) => (i.action ? (i.action.action === "resolve" ? 2 : 1) : 0);
  return items.sort((a, b) => acted(a) - acted(b)
    || SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity]
    || b.updated_at_ms - a.updated_at_ms);
}

function renderIncidents() {
  const f = filters();
  const items = sortIncidents([...state.incidents.values()]
    .filter((i) => matches(f, i.camera_id, i.severity)));
  replaceKeepingFocus(document.getElementById("incidents"), items.map(incidentCard));
  document.getElementById("incidents-empty").hidden = items.length > 0;
  document.getElementById("incidents-section").hidden = state.source !== "incidents";
  document.getElementById("groups-note").hidden = state.source === "incidents";
  document.getElementById("incident-count").textContent = String(state.incidents.size);
}

function groupCard(g) {
  const li = el("li", null, `card group sev-border-${g.severity}`);
  li.dataset.groupId = g.group_id;
  li.dataset.alertId = g.newest_alert_id;
  const body = el("div", null, "card-body");
  const title = el("div", null, "card-title");
  title.append(severityBadge(g.severity), el("b", g.pattern), cameraLink(g.camera_id),
    el("span", `${g.count} alert${g.count === 1 ? "" : "s"}`, "count"));
  const meta = el("div", `last ${fmt.time(g.last_seen_ms)} (`, "meta");
  meta.append(ago(g.last_seen_ms), `) · first ${fmt.time(g.first_seen_ms)}`);
  body.append(title, meta,
    el("div", g.description, "description"));
  li.append(picture(g.crop_sha256, g.crop_available, `evidence of ${g.pattern}`), body);
  return li;
}

function renderGroups() {
  const f = filters();
  const items = [...state.groups.values()].filter((g) => matches(f, g.camera_id, g.severity))
    .sort((a, b) => SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity]
      || b.last_seen_ms - a.last_seen_ms).slice(0, 100);
  replaceKeepingFocus(document.getElementById("groups"), items.map(groupCard));
  document.getElementById("groups-empty").hidden = items.length > 0;
}

function verdictItem(r) {
  const li = el("li", null, "risk");
  li.dataset.riskId = riskId(r);
  const body = el("div", null, "card-body");
  const title = el("div", null, "card-title");
  const level = r.risk_level === "none" ? "NO" : String(r.risk_level).toUpperCase();
  title.append(el("span", `${level} RISK`, `badge lvl-${String(r.risk_level)}`),
    cameraLink(r.camera_id),
  el("span", fmt.time(r.captured_at_ms), "time"));
  body.append(title, el("div", r.reason, "reason"),
    el("div", [r.source, r.key_id].filter(Boolean).join(" / "), "meta"));
  li.append(picture(r.crop_sha256, r.crop_available, `crop of ${riskId(r)}`), body);
  return li;
}

function renderRisks() {
  const f = filters();
  const items = [...state.risks.values()]
    .filter((r) => matches(f, r.camera_id, RISK_SEVERITY[r.risk_level]))
    .sort((a, b) => (b.captured_at_ms || 0) - (a.captured_at_ms || 0));
  document.getElementById("risks").replaceChildren(...items.map(verdictItem));
  document.getElementById("risks-empty").hidden = items.length > 0;
}

function renderKeypool() {
  const rows = state.keypool.map((k) => {
    const row = el("tr");
    row.dataset.keyId = String(k.key_id);
    const health = el("td");
    health.append(el("span", k.status, `badge key-${k.health}`));
    row.append(el("td", k.key_id), health, el("td", k.spend), el("td", k.requests_per_min),
      el("td", k.rate_limited ?? "-"), el("td", k.errors ?? "-"));
    return row;
  });
  document.querySelector("#keypool tbody").replaceChildren(...rows);
  document.getElementById("keypool-empty").hidden = rows.length > 0;
}
function cameraCard(name) {
  const cam = state.cameras.get(name);
  const last = cam.latest || {};
  const series = [...cam.series.values()].sort((a, b) => a[0] - b[0]);
  const box = el("article", null, "camera");
  box.dataset.cameraId = name;
  const title = el("div", null, "card-title");
  title.append(cameraLink(name));
  if (cam.openIncidents) {
    title.append(el("span", `${cam.openIncidents} open`, "badge sev-critical"));
  }
  box.append(picture(cam.picture, Boolean(cam.picture), `newest picture of ${name}`), title,
    el("div", `vehicles ${fmt.perWindow(last.vehicles, last.window_start_ms,
      last.window_end_ms)} · people ${last.pedestrians ?? "-"} · congestion `
      + `${Number(last.congestion_index ?? 0).toFixed(2)}`, "nums"),
    el("div", `window ${fmt.time(last.window_start_ms)}`, "meta"), chart(series, 40));
  return box;
}

function visibleCameras() {
  const f = filters();
  return [...state.cameras.keys()].filter((name) => matches(f, name))
    .sort((a, b) => state.cameras.get(b).openIncidents - state.cameras.get(a).openIncidents
      || (a < b ? -1 : a > b ? 1 : 0));
}

let shownCameras = new Set(); // the cards on screen

function renderCameras() {
  const names = visibleCameras();
  const pages = Math.max(1, Math.ceil(names.length / PAGE_SIZE));
  state.page = Math.min(state.page, pages - 1);
  const shown = names.slice(state.page * PAGE_SIZE, (state.page + 1) * PAGE_SIZE);
  shownCameras = new Set(shown);
  replaceKeepingFocus(document.getElementById("cameras"), shown.map(cameraCard));
  document.getElementById("cameras-empty").hidden = shown.length > 0;
  document.getElementById("page-info").textContent =
    `page ${state.page + 1} of ${pages} (${names.length} cameras)`;
  document.getElementById("prev-page").disabled = state.page === 0;
  document.getElementById("next-page").disabled = state.page >= pages - 1;
  document.getElementById("camera-count").textContent = String(state.cameras.size);
}

function renderLag() {
  let newest = null;
  for (const c of state.cameras.values()) {
    if (c.latest && (newest === null || c.latest.window_end_ms > newest)) {
      newest = c.latest.window_end_ms;
    }
  }
  const lag = newest === null ? state.serverLagMs : Math.max(0, now() - newest);
  document.getElementById("lag").textContent = fmt.duration(lag);
}

const renderers = {
  incidents: renderIncidents, groups: renderGroups, risks: renderRisks,
  keypool: renderKeypool, cameras: renderCameras, lag: renderLag, ago: renderAgo,
};
const ALL = Object.keys(renderers);

// ---- the camera page (#camera/<id>): the last hour from /api/camera
const cameraPage = { id: null, doc: null, timer: null };

async function loadCameraPage() {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const id = cameraPage.id;
  try {
    const response = await fetch(`api/camera?id=${encodeURIComponent(id)}`, { headers });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
    if (cameraPage.id !== id) return;
    cameraPage.doc = body;
    document.getElementById("camera-error").hidden = true;
    renderCameraPage();
  } catch (err) {
    const error = document.getElementById("camera-error");
    error.hidden = false;
    error.textContent = `could not load the camera: ${err.message}`;
  }
}

function renderCameraPage() {
  const doc = cameraPage.doc;
  const page = document.getElementById("camera-page");
  page.dataset.cameraId = doc.camera_id;
  document.getElementById("camera-title").textContent = `Camera ${doc.camera_id}`;
  document.getElementById("camera-picture").replaceChildren(
    picture(doc.picture, Boolean(doc.picture), `newest picture of ${doc.camera_id}`));
  document.getElementById("camera-range").textContent =
    `${fmt.time(doc.from_ms)} to ${fmt.time(doc.to_ms)}: ${doc.windows.length} windows`;
  const points = doc.windows.map((w) => [w.window_start_ms, w.window_end_ms, w.vehicles,
    w.congestion_index]);
  document.getElementById("camera-chart").replaceChildren(chart(points, 30));
  document.querySelector("#camera-windows tbody").replaceChildren(...[...doc.windows].reverse()
    .map((w) => {
      const row = el("tr");
      row.append(el("td", fmt.time(w.window_start_ms)),
        el("td", fmt.perWindow(w.vehicles, w.window_start_ms, w.window_end_ms)),
        el("td", w.pedestrians), el("td", Number(w.congestion_index ?? 0).toFixed(2)),
        el("td", w.frames));
      return row;
    }));
  replaceKeepingFocus(document.getElementById("camera-incidents"),
    doc.incidents.map(incidentCard));
  document.getElementById("camera-incidents-empty").hidden = doc.incidents.length > 0;
  document.getElementById("camera-verdicts").replaceChildren(...doc.verdicts.map(verdictItem));
  document.getElementById("camera-verdicts-empty").hidden = doc.verdicts.length > 0;
}

function route() {
  const match = /^#camera\/(.+)$/.exec(location.hash);
  clearInterval(cameraPage.timer);
  cameraPage.id = match ? decodeURIComponent(match[1]) : null;
  cameraPage.doc = null;
  document.getElementById("overview").hidden = Boolean(match);
  document.getElementById("filters").hidden = Boolean(match);
  document.getElementById("camera-page").hidden = !match;
  if (match) {
    document.getElementById("camera-title").textContent = `Camera ${cameraPage.id}`;
    loadCameraPage();
    cameraPage.timer = setInterval(loadCameraPage, 10000);
    document.getElementById("camera-title").focus?.();
  } else {
    schedule(...ALL);
  }
}

// ---- the live connection
function setStatus(value) {
  const status = document.getElementById("status");
  status.dataset.state = value;
  status.dataset.snapshots = String(state.snapshots);
  status.textContent = value;
}

const handlers = {
  snapshot: (m) => { applySnapshot(m); schedule(...ALL); setStatus("live"); },
  stats: (m) => {
    const known = state.cameras.has(m.data.camera_id);
    addStats(m.data);
    // Redraw the grid only for a card on screen or a new camera (the count and pages change).
    schedule(...(!known || shownCameras.has(m.data.camera_id) ? ["cameras", "lag"] : ["lag"]));
  },
  alert_group: (m) => { state.groups.set(m.data.group_id, m.data); schedule("groups"); },
  incident: (m) => { addIncident(m.data); schedule("incidents", "cameras"); },
  incident_action: (m) => applyAction(m.data.incident_id, m.data.action),
  risk: (m) => { addRisk(m.data); schedule("risks", "cameras"); },
  error: (m) => { setStatus(String(m.message)); },
  health: (m) => {
    state.keypool = m.keypool; state.serverLagMs = m.lag_ms;
    schedule("keypool", "lag", "ago");
  },
};

let backoffMs = 500;
function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const base = location.pathname.replace(/[^/]*$/, "");
  const socket = new WebSocket(`${scheme}://${location.host}${withToken(`${base}ws`)}`);
  socket.onopen = () => { backoffMs = 500; };
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (typeof message.server_time_ms === "number") {
      clock.offsetMs = message.server_time_ms - Date.now();
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

function start() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  document.getElementById("zone").textContent = `times: ${zone}`;
  for (const id of ["filter", "severity"]) {
    document.getElementById(id).addEventListener("input", () => {
      state.page = 0;
      schedule("incidents", "groups", "risks", "cameras");
    });
  }
  document.getElementById("prev-page").addEventListener("click", () => {
    state.page = Math.max(0, state.page - 1); schedule("cameras");
  });
  document.getElementById("next-page").addEventListener("click", () => {
    state.page += 1; schedule("cameras");
  });
  window.addEventListener("hashchange", route);
  route();
  setInterval(() => schedule("lag"), 1000);
  connect();
}

window.trafficDashboard = { state, fmt };
start();
