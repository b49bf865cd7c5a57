// DOM building blocks of the dashboard (loaded before app.js). Data reaches the DOM only through textContent and
// setAttribute of plain values: nothing from Redis is ever parsed as HTML.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const SEVERITY_RANK = { info: 0, warning: 1, critical: 2 };
const token = new URLSearchParams(location.search).get("token");

function withToken(path) {
  return token ? `${path}?token=${encodeURIComponent(token)}` : path;
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

// Severity is colour AND text: the badge always says what it means.
function severityBadge(severity) {
  const known = Object.hasOwn(SEVERITY_RANK, severity) ? severity : "info";
  return el("span", String(severity).toUpperCase(), `badge sev-${known}`);
}

function picture(sha, available, what) {
  if (available && /^[0-9a-f]{64}$/.test(String(sha))) {
    const img = el("img", null, "thumb");
    img.alt = what;
    img.loading = "lazy";
    img.src = withToken(`crop/${sha}`);
    img.onerror = () => img.replaceWith(placeholder("picture expired"));
    return img;
  }
  return placeholder(sha ? "picture expired" : "no picture");
}

function placeholder(text) {
  const box = el("div", text, "thumb placeholder");
  box.setAttribute("role", "img");
  box.setAttribute("aria-label", text);
  return box;
}

// "10 min ago", kept current by renderAgo without redrawing the card (focus stays put).
function ago(ms) {
  const span = el("span", fmt.ago(ms), "ago");
  span.dataset.since = String(ms);
  return span;
}

function renderAgo() {
  for (const span of document.querySelectorAll("span.ago")) {
    span.textContent = fmt.ago(Number(span.dataset.since));
  }
}

// Redraw a list, then give focus back to the same control of the same card: live updates
// must not throw a keyboard user out of the list.
function replaceKeepingFocus(container, children) {
  const active = document.activeElement;
  const card = container.contains(active)
    ? active.closest("[data-incident-id], [data-group-id], [data-camera-id]") : null;
  container.replaceChildren(...children);
  if (!card || container.contains(active)) return;
  const attr = ["incidentId", "groupId", "cameraId"].find((k) => card.dataset[k] !== undefined);
  const name = attr.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  const inner = active.dataset.action ? `button[data-action="${active.dataset.action}"]`
    : active.tagName.toLowerCase();
  const again = container.querySelector(
    `[data-${name}="${CSS.escape(card.dataset[attr])}"] ${inner}`);
  if (again) again.focus({ preventScroll: true });
}

function cameraLink(cameraId) {
  const link = el("a", cameraId, "camera-id");
  link.href = `#camera/${encodeURIComponent(cameraId)}`;
  return link;
}
function chart(points, height) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", `0 0 100 ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("aria-hidden", "true");
  const n = points.length;
  const peak = Math.max(1, ...points.map((p) => Number(p[2]) || 0));
  points.forEach((p, i) => {
    const bar = document.createElementNS(SVG_NS, "rect");
    const h = height * Math.min(1, Math.max(0, Number(p[3]) || 0));
    bar.setAttribute("x", String((100 * i) / n));
    bar.setAttribute("width", String(Math.max(0.5, 100 / n - 0.5)));
    bar.setAttribute("y", String(height - h));
    bar.setAttribute("height", String(h));
    svg.append(bar);
  });
  const line = document.createElementNS(SVG_NS, "polyline");
  const step = n > 1 ? 100 / (n - 1) : 0;
  line.setAttribute("points", points.map((p, i) => `${(i * step).toFixed(2)},`
    + `${(height - 2 - ((height - 4) * (Number(p[2]) || 0)) / peak).toFixed(2)}`).join(" "));
  svg.append(line);
  return svg;
}
