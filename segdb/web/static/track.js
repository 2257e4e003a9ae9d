// The track page: one cell across the sessions it was found in — a crop of each session's image with
// its outline, its traces one above the other — labelled once for all sessions (one batch).
"use strict";

const view = JSON.parse(document.getElementById("view").textContent);
const api = `/api/tracks/${view.track_id}`;
const canvas = $("traces");
const ROW = 90;

function renderLabels() {
  document.querySelectorAll(".crop").forEach((figure, index) => {
    const member = view.members[index];
    const badge = figure.querySelector(".member-label");
    badge.className = `member-label label label-${member.label || "none"}`;
    badge.textContent = member.label || "—";
    badge.title = Object.entries(member.by_curator).map(([who, what]) => `${who}: ${what}`).join("\n");
    figure.style.borderColor = COLOURS[member.label] || NONE;
  });
}

async function loadTraces() {
  const name = $("trace").value;
  if (!name) return;
  canvas.width = canvas.clientWidth || 1200;
  canvas.height = ROW * view.members.length;
  const traces = await Promise.all(view.members.map((_, index) =>
    request(`${api}/members/${index}/trace?name=${encodeURIComponent(name)}&width=${canvas.width}`)));
  traces.forEach((trace, index) => drawTrace(canvas, trace, {
    top: index * ROW, height: ROW, caption: view.members[index].session,
    colour: ["#2563eb", "#9333ea", "#0891b2", "#c2410c", "#15803d", "#be185d"][index % 6],
  }));
}

function loadCrops() {
  const image = $("image").value;
  document.querySelectorAll(".crop img").forEach((img, index) => {
    img.src = `${api}/members/${index}/crop.png?image=${encodeURIComponent(image)}`;
  });
}

async function label(name, revisions) {
  const seen = revisions || Object.fromEntries(view.members.map((member) => [member.roi_id, member.revision]));
  try {
    const events = await post(`${api}/labels`, { label: name, note: $("note").value || null, revisions: seen });
    $("note").value = "";
    show(`track ${view.track_id}: ${name} in ${events.length} sessions`);
    await refreshState();
  } catch (error) {
    if (error.status === 409 && /since you looked/.test(error.message)) await showConflict(name);
    else show(error.message, "error");
  }
}

async function showConflict(wanted) {
  const before = view.members.map((member) => member.revision);
  await refreshState();
  const changed = view.members.filter((member, index) => member.revision !== before[index]);
  const keep = document.createElement("button");
  keep.textContent = "Keep their labels";
  keep.addEventListener("click", () => show(""));
  const mine = document.createElement("button");
  mine.textContent = `Label all ${wanted} anyway`;
  mine.addEventListener("click", () => label(wanted));
  const what = changed.map((member) => `${member.session}: ${member.label || "cleared"}`).join(", ");
  show([`Someone labelled this cell since you looked (${what || "see the sessions above"}). `, keep, " ", mine],
       "conflict");
}

async function undo() {
  try {
    const events = await post(`${api}/undo`);
    show(`undone: ${events.length} label(s) taken back`);
    await refreshState();
  } catch (error) {
    show(error.message, "error");
  }
}

// Sends the version of the answer it last had: the server answers 204 (no body) when nothing changed.
let stateVersion = null;

async function refreshState() {
  const query = `policy=${encodeURIComponent(view.policy)}` +
    (stateVersion === null ? "" : `&version=${encodeURIComponent(stateVersion)}`);
  let response;
  try { response = await fetch(`${api}/state?${query}`); } catch { return; }
  if (!response.ok) return;
  stateVersion = response.headers.get("X-SegDB-Version");
  if (response.status === 204) return;
  const rows = await response.json();
  rows.forEach((row, index) => Object.assign(view.members[index], row));
  renderLabels();
}

for (const button of document.querySelectorAll(".actions button[data-label]")) {
  button.addEventListener("click", () => label(button.dataset.label));
}
$("undo").addEventListener("click", undo);
$("trace").addEventListener("change", loadTraces);
$("image").addEventListener("change", loadCrops);
$("policy").addEventListener("change", () => {
  const url = new URL(window.location);
  url.searchParams.set("policy", $("policy").value);
  window.location = url;
});
onKeys({ a: () => label("accepted"), r: () => label("rejected"), u: () => label("unsure"), z: undo });

renderLabels();
loadTraces();
setInterval(refreshState, POLL_MS);
