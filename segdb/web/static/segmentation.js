// The segmentation page: ROI outlines over a summary image, the ROI list, one ROI's trace, properties,
// history and labels. Plain JavaScript; everything it reads and writes goes through the server's /api.
"use strict";

const view = JSON.parse(document.getElementById("view").textContent);
const seg = view.segmentation.segmentation_id;
const api = `/api/segmentations/${seg}/planes/${encodeURIComponent(view.plane)}`;

const fov = document.getElementById("fov");
const fovContext = fov.getContext("2d");
const scale = Math.max(1, Math.floor(900 / Math.max(view.height, view.width)));
fov.width = view.width * scale;
fov.height = view.height * scale;

const state = {
  selected: null,
  matching: null,            // indices the filter selects, or null for all
  order: view.rois.map((roi) => roi.index),
  sortKey: "index",
  sortUp: true,
  window: null,              // [start, stop] of the trace shown, or null for the whole session
  image: new Image(),
};

// -- the field of view -------------------------------------------------------------------------

function loadImage() {
  const name = $("image").value;
  if (!name) { draw(); return; }
  state.image.onload = draw;
  state.image.src = `${api}/images/${encodeURIComponent(name)}.png?low=${$("low").value}&high=${$("high").value}`;
}

function draw() {
  fovContext.imageSmoothingEnabled = false;
  fovContext.fillStyle = "black";
  fovContext.fillRect(0, 0, fov.width, fov.height);
  if (state.image.complete && state.image.naturalWidth) {
    fovContext.drawImage(state.image, 0, 0, fov.width, fov.height);
  }
  for (const roi of view.rois) {
    if (roi.index !== state.selected) outline(roi, COLOURS[roi.label] || NONE, isShown(roi) ? 1 : 0.25);
  }
  if (state.selected !== null) outline(view.rois[state.selected], "#00e5ff", 1);
}

function outline(roi, colour, alpha) {
  fovContext.globalAlpha = alpha;
  fovContext.fillStyle = colour;
  const points = roi.outline;
  for (let i = 0; i < points.length; i += 2) {
    fovContext.fillRect(points[i + 1] * scale, points[i] * scale, scale, scale);
  }
  fovContext.globalAlpha = 1;
}

function isShown(roi) { return state.matching === null || state.matching.has(roi.index); }

function roiAt(event) {
  const box = fov.getBoundingClientRect();
  const row = ((event.clientY - box.top) / box.height) * view.height;
  const col = ((event.clientX - box.left) / box.width) * view.width;
  let best = null;
  let bestDistance = Infinity;
  for (const roi of view.rois) {
    if (!roi.box) continue;
    const [top, left, bottom, right] = roi.box;
    if (row < top - 1 || row > bottom + 2 || col < left - 1 || col > right + 2) continue;
    const distance = (row - roi.centre[0]) ** 2 + (col - roi.centre[1]) ** 2;
    if (distance < bestDistance) { best = roi; bestDistance = distance; }
  }
  return best;
}

fov.addEventListener("click", (event) => {
  const roi = roiAt(event);
  if (roi) select(roi.index);
});

// -- the ROI list ------------------------------------------------------------------------------

function sortValue(roi, key) {
  if (key === "index") return roi.index;
  if (key === "key") return roi.key;
  if (key === "label") return roi.label || "";
  if (key === "tags") return roi.tags.join(" ") || "~";
  const values = view.properties[key];
  return values ? values[roi.index] ?? -Infinity : 0;
}

function sortList(key) {
  state.sortUp = state.sortKey === key ? !state.sortUp : true;
  state.sortKey = key;
  const sign = state.sortUp ? 1 : -1;
  state.order.sort((a, b) => {
    const x = sortValue(view.rois[a], key);
    const y = sortValue(view.rois[b], key);
    return (x < y ? -1 : x > y ? 1 : a - b) * sign;
  });
  renderList();
}

function renderList() {
  const body = $("rois").tBodies[0];
  const rows = state.order.map((index) => {
    const roi = view.rois[index];
    const cells = [String(roi.index), String(roi.key), labelBadge(roi.label), roi.tags.join(", ")];
    for (const name of Object.keys(view.properties)) {
      const value = view.properties[name][index];
      cells.push(value === null ? "" : Number(value).toPrecision(4));
    }
    const row = tableRow(cells);
    row.dataset.index = index;
    if (index === state.selected) row.classList.add("selected");
    if (!isShown(roi)) row.classList.add("filtered-out");
    row.addEventListener("click", () => select(index));
    return row;
  });
  body.replaceChildren(...rows);
}

for (const header of document.querySelectorAll("#rois th[data-sort]")) {
  header.addEventListener("click", () => sortList(header.dataset.sort));
}

function step(offset) {
  const visible = state.order.filter((index) => isShown(view.rois[index]));
  if (!visible.length) return;
  const at = visible.indexOf(state.selected);
  const next = at < 0 ? 0 : Math.min(visible.length - 1, Math.max(0, at + offset));
  select(visible[next]);
}

// -- one ROI -----------------------------------------------------------------------------------

async function select(index) {
  state.selected = index;
  state.window = null;
  const roi = view.rois[index];
  $("roi-title").textContent = `ROI ${roi.key}`;
  $("roi-title").dataset.key = String(roi.key);
  const link = $("track-link");
  link.hidden = roi.track === null;
  if (roi.track !== null) {
    link.href = `/tracks/${roi.track}?policy=${encodeURIComponent(view.policy)}`;
    link.textContent = `track ${roi.track} across sessions →`;
  }
  show("");
  renderTags(roi);
  draw();
  renderList();
  document.querySelector(`#rois tr[data-index="${index}"]`)?.scrollIntoView({ block: "nearest" });
  renderProperties(roi);
  await Promise.all([loadHistory(roi), loadTrace(roi)]);
}

function renderProperties(roi) {
  const rows = [["label", roi.label || "unlabelled"], ["revision", roi.revision]];
  for (const [name, values] of Object.entries(view.properties)) {
    rows.push([name, values[roi.index] === null ? "" : Number(values[roi.index]).toPrecision(5)]);
  }
  $("properties").replaceChildren(...rows.map(([name, value]) => tableRow([name, String(value)])));
}

async function loadHistory(roi) {
  const events = await request(`${api}/rois/${roi.index}/history`);
  if (state.selected !== roi.index) return events;
  $("history").tBodies[0].replaceChildren(...events.slice().reverse().map(historyRow));
  return events;
}

function historyRow(event) {
  return tableRow([new Date(event.created_at).toLocaleString(), event.curator, eventBadge(event), event.note || ""]);
}

function eventBadge(event) {
  if (!event.tag) return labelBadge(event.label);
  const badge = document.createElement("span");
  badge.className = `tag-event ${event.label}`;
  badge.textContent = `${event.label} ${event.tag}`;
  return badge;
}

// -- tags --------------------------------------------------------------------------------------

function renderTags(roi) {
  $("tag-list").replaceChildren(...roi.tags.map((tag) => {
    const chip = document.createElement("span");
    chip.className = "tag";
    chip.textContent = tag;
    const remove = document.createElement("button");
    remove.textContent = "×";
    remove.title = `take your tag ${tag} off`;
    remove.addEventListener("click", () => sendTag(tag, true));
    chip.append(remove);
    return chip;
  }));
}

async function sendTag(tag, remove = false) {
  if (state.selected === null) { show("Select a ROI first: click it, or use ↑ ↓"); return; }
  const roi = view.rois[state.selected];
  try {
    const event = await post(`${api}/tags`, { key: roi.key, tag, remove, note: $("note").value || null });
    $("tag").value = "";
    $("note").value = "";
    show(`ROI ${roi.key}: ${event.label} ${tag}`);
    if (!remove && !roi.tags.includes(tag)) roi.tags.push(tag);
    await Promise.all([refreshState(), loadHistory(roi)]);
    renderTags(roi);
    renderList();
  } catch (error) {
    show(error.message, "error");
  }
}

$("tag").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && $("tag").value.trim()) sendTag($("tag").value.trim());
  if (event.key === "Escape") $("tag").blur();
});

// -- the trace ---------------------------------------------------------------------------------

const plot = $("trace-plot");
let drag = null;

async function loadTrace(roi) {
  const name = $("trace").value;
  if (!name) return;
  plot.width = plot.clientWidth || 640;
  const range = state.window ? `&start=${state.window[0]}&stop=${state.window[1]}` : "";
  // The raw trace is shown with its neuropil behind it, as a curator compares them.
  const names = name === "raw" && view.traces.includes("neuropil") ? ["raw", "neuropil"] : [name];
  const traces = await Promise.all(names.map((one) =>
    request(`${api}/rois/${roi.index}/trace?name=${encodeURIComponent(one)}&width=${plot.width}${range}`)));
  if (state.selected !== roi.index) return;
  plot.trace = traces[0];
  plot.shown = names;
  drawTrace(plot, traces);
}

plot.addEventListener("mousedown", (event) => { drag = event.offsetX; });
plot.addEventListener("mouseup", (event) => {
  if (drag === null || !plot.trace || Math.abs(event.offsetX - drag) < 4) { drag = null; return; }
  const { start, stop } = plot.trace;
  const [a, b] = [drag, event.offsetX].sort((p, q) => p - q);
  const first = Math.floor(start + (a / plot.width) * (stop - start));
  const last = Math.ceil(start + (b / plot.width) * (stop - start));
  drag = null;
  if (last - first >= 2) { state.window = [first, last]; loadTrace(view.rois[state.selected]); }
});
plot.addEventListener("dblclick", () => { state.window = null; if (state.selected !== null) loadTrace(view.rois[state.selected]); });
$("trace").addEventListener("change", () => { if (state.selected !== null) loadTrace(view.rois[state.selected]); });

// -- labelling ---------------------------------------------------------------------------------

async function label(name, revision) {
  if (state.selected === null) { show("Select a ROI first: click it, or use ↑ ↓"); return; }
  const roi = view.rois[state.selected];
  try {
    const event = await post(`${api}/labels`, { key: roi.key, label: name, note: $("note").value || null,
                                                revision: revision ?? roi.revision });
    roi.revision = event.revision;
    if (view.policy === "latest" || view.policy === `curator:${event.curator}`) roi.label = event.label;
    $("note").value = "";
    show(`ROI ${roi.key}: ${name} (revision ${event.revision})`);
    draw();
    renderList();
    renderProperties(roi);
    // The answer is the stored event: it goes on top of the history without asking the server again.
    $("history").tBodies[0].prepend(historyRow(event));
    await refreshState();
  } catch (error) {
    if (error.status === 409 && /since you looked/.test(error.message)) await showConflict(roi, name);
    else show(error.message, "error");
  }
}

async function showConflict(roi, wanted) {
  const events = await loadHistory(roi);
  const last = events[events.length - 1];
  const keep = document.createElement("button");
  keep.textContent = `Keep ${last.label}`;
  keep.addEventListener("click", () => { show(""); refreshState(); });
  const mine = document.createElement("button");
  mine.textContent = `Label it ${wanted} anyway`;
  mine.addEventListener("click", () => label(wanted, last.revision));
  show([`${last.curator} labelled ROI ${roi.key} ${last.label} since you looked (revision ${last.revision}). `,
        keep, " ", mine], "conflict");
}

async function undo() {
  try {
    const events = await post(`/api/segmentations/${seg}/undo`);
    show(`undone: ${events.length} label(s) taken back`);
    await refreshState();
    if (state.selected !== null) await loadHistory(view.rois[state.selected]);
  } catch (error) {
    show(error.message, "error");
  }
}

for (const button of document.querySelectorAll(".actions button[data-label]")) {
  button.addEventListener("click", () => label(button.dataset.label));
}
$("undo").addEventListener("click", undo);

onKeys({
  a: () => label("accepted"), r: () => label("rejected"), u: () => label("unsure"), z: undo,
  t: () => $("tag").focus(),
  ArrowDown: () => step(1), ArrowUp: () => step(-1), j: () => step(1), k: () => step(-1),
});

// One label for every ROI the filter shows, in one batch (one undo takes it back), refused whole
// if anyone labelled one of them since this page saw it.
async function labelMatching(name) {
  const rois = [...state.matching].map((index) => view.rois[index]);
  const revisions = Object.fromEntries(rois.map((roi) => [String(roi.key), roi.revision]));
  try {
    const events = await post(`${api}/labels/many`, { keys: rois.map((roi) => roi.key), label: name,
                                                      note: $("note").value || null, revisions });
    $("note").value = "";
    await refreshState();  // the list shows the new labels before the message says they were given
    show(`${events.length} ROIs: ${name}`);
  } catch (error) {
    if (error.status === 409) await refreshState();
    show(error.message, error.status === 409 ? "conflict" : "error");
  }
}

for (const button of document.querySelectorAll("#label-matching button")) {
  button.addEventListener("click", () => labelMatching(button.dataset.many));
}

// -- others' labels, the filter and the image ----------------------------------------------------

const byKey = new Map(view.rois.map((roi) => [String(roi.key), roi]));

// Asks what changed since the version this page holds: only the ROIs labelled since come back.
async function refreshState() {
  let answer;
  const query = `policy=${encodeURIComponent(view.policy)}&version=${encodeURIComponent(view.version)}`;
  try { answer = await request(`${api}/state?${query}`); } catch { return; }
  view.version = answer.version;
  const rows = answer.changed || answer.rois;
  if (!rows) return;
  let changed = false;
  let changedSelected = false;
  for (const row of rows) {
    const roi = byKey.get(String(row.key));
    if (!roi || roi.revision === row.revision && roi.label === row.label) continue;
    roi.label = row.label;
    roi.revision = row.revision;
    roi.tags = row.tags;
    changed = true;
    if (roi.index === state.selected) changedSelected = true;
  }
  if (!changed) return;
  draw();
  renderList();
  if (changedSelected) {
    renderProperties(view.rois[state.selected]);
    renderTags(view.rois[state.selected]);
    if ($("message").className !== "conflict") loadHistory(view.rois[state.selected]);
  }
}

$("where").addEventListener("keydown", async (event) => {
  if (event.key !== "Enter") return;
  const where = $("where").value.trim();
  if (!where) {
    state.matching = null;
    $("matching").textContent = "";
    $("label-matching").hidden = true;
    draw();
    renderList();
    return;
  }
  try {
    const indices = await request(`${api}/matching?where=${encodeURIComponent(where)}&policy=${encodeURIComponent(view.policy)}`);
    state.matching = new Set(indices);
    $("matching").textContent = `${indices.length} of ${view.rois.length} ROIs match`;
    $("label-matching").hidden = indices.length === 0;
    show("");
  } catch (error) {
    show(error.message, "error");
  }
  draw();
  renderList();
});

$("policy").addEventListener("change", () => {
  const url = new URL(window.location);
  url.searchParams.set("policy", $("policy").value);
  window.location = url;
});
for (const id of ["image", "low", "high"]) $(id).addEventListener("change", loadImage);

renderList();
loadImage();
setInterval(refreshState, POLL_MS);
// A link may name the ROI to open with (the track page's crops do): ?roi=INDEX.
const opened = new URL(window.location).searchParams.get("roi");
if (opened !== null && view.rois[Number(opened)]) select(Number(opened));
