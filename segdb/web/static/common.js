// What every segdb page shares: element lookup, the status line, JSON requests, label badges and
// drawing a decimated trace. Plain JavaScript, loaded before each page's own script.
"use strict";

const COLOURS = { accepted: "#33d959", rejected: "#f24040", unsure: "#ffb31a" };
const NONE = "#bfbfcc";
const POLL_MS = window.SEGDB_POLL_MS || 2000;

function $(id) { return document.getElementById(id); }

function show(text, kind = "") {
  const box = $("message");
  box.className = kind;
  box.replaceChildren();
  if (typeof text === "string") box.textContent = text; else box.append(...text);
}

async function request(url, options = {}) {
  const response = await fetch(url, options);
  const body = await response.json().catch(() => ({ error: `the server answered ${response.status}` }));
  if (!response.ok) {
    const error = new Error(body.error || `the server answered ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

// A write: JSON in, JSON out, with the page's token that another site cannot send.
function post(url, body) {
  const headers = { "X-SegDB-Token": window.SEGDB_TOKEN };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return request(url, { method: "POST", headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

function labelBadge(label) {
  const badge = document.createElement("span");
  badge.className = `label label-${label || "none"}`;
  badge.textContent = label || "—";
  return badge;
}

function tableRow(values) {
  const row = document.createElement("tr");
  for (const value of values) {
    const cell = document.createElement("td");
    cell.append(value);
    row.append(cell);
  }
  return row;
}

// Draws traces (min and max per column) on one scale into [top, top + height) of the canvas, the
// first in ``colour``, the others fainter behind it, with a caption below.
function drawTrace(canvas, traces, { top = 0, height = canvas.height, colour = "#2563eb", caption = null } = {}) {
  const all = Array.isArray(traces) ? traces : [traces];
  const context = canvas.getContext("2d");
  const width = canvas.width;
  context.clearRect(0, top, width, height);
  const values = all.flatMap((trace) => trace.min.concat(trace.max)).filter((v) => v !== null);
  if (!values.length) return;
  let low = Math.min(...values);
  let high = Math.max(...values);
  if (high === low) { high += 1; low -= 1; }
  const y = (v) => top + height - 14 - ((v - low) / (high - low)) * (height - 24);
  all.slice().reverse().forEach((trace, back) => {
    const x = (i) => (i / Math.max(1, trace.min.length - 1)) * (width - 1);
    context.strokeStyle = back === all.length - 1 ? colour : "#9ca3af";
    context.lineWidth = 1;
    context.beginPath();
    for (let i = 0; i < trace.min.length; i++) {
      if (trace.min[i] === null) continue;
      context.moveTo(x(i) + 0.5, y(trace.min[i]));
      context.lineTo(x(i) + 0.5, y(trace.max[i]) - 0.5);
      if (i + 1 < trace.min.length && trace.min[i + 1] !== null) context.lineTo(x(i + 1) + 0.5, y(trace.min[i + 1]));
    }
    context.stroke();
  });
  const trace = all[0];
  context.fillStyle = "#6b7280";
  context.font = "11px system-ui";
  const unit = trace.rate ? "s" : "samples";
  const at = (sample) => (trace.rate ? (sample / trace.rate).toFixed(1) : sample);
  const names = all.map((t) => t.name).join(" and ") + (all.length > 1 ? ` (${all.slice(1).map((t) => t.name).join(", ")} in grey)` : "");
  const span = `${names}: ${at(trace.start)}–${at(trace.stop)} ${unit} of ${at(trace.num_samples)}`;
  context.fillText(caption ? `${caption} · ${span}` : span, 4, top + height - 2);
}

// The keys every curating page answers: a / r / u label, z undoes; others as the page adds them.
function onKeys(actions) {
  document.addEventListener("keydown", (event) => {
    if (event.target.matches("input, select, textarea") || event.ctrlKey || event.metaKey || event.altKey) return;
    if (actions[event.key]) { event.preventDefault(); actions[event.key](); }
  });
}
