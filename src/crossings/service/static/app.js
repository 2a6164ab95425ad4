// The shared map. Everything here is drawn from what the server chose to send for this caller:
// the browser never filters sensitive data itself.
const state = { me: null, csrf: "", layers: {}, rasters: [], ready: false };
window.crossingsState = state;

const COLOURS = {
  fences: "#b2182b", openings: "#2166ac", tracks: "#e08214", camera: "#542788",
  plan: "#1b7837", context: "#7f7f7f", security: "#000000", other: "#8c510a",
  proposals: "#d6604d", reports: "#35978f",
};

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (options.method && options.method !== "GET") headers["X-CSRF-Token"] = state.csrf;
  const reply = await fetch(path, { credentials: "same-origin", ...options, headers });
  return reply;
}

const map = new maplibregl.Map({
  container: "map",
  style: {
    version: 8,
    sources: { borders: { type: "geojson", data: "/static/borders.geojson" } },
    layers: [
      { id: "background", type: "background", paint: { "background-color": "#eef2ee" } },
      { id: "countries", type: "fill", source: "borders", paint: { "fill-color": "#fbfaf4", "fill-outline-color": "#999" } },
      { id: "borders", type: "line", source: "borders", paint: { "line-color": "#888", "line-width": 1 } },
    ],
  },
  center: [58, 43.5], zoom: 5, attributionControl: { customAttribution: "Natural Earth" },
});
map.addControl(new maplibregl.NavigationControl(), "top-right");

function styleLayers(name, kind) {
  const colour = COLOURS[kind] || COLOURS.other;
  const generalised = ["==", ["get", "treatment"], "generalised"];
  return [
    { id: `${name}-fill`, type: "fill", source: name, filter: ["==", ["geometry-type"], "Polygon"],
      paint: { "fill-color": colour, "fill-opacity": ["case", generalised, 0.12, 0.25] } },
    { id: `${name}-line`, type: "line", source: name,
      filter: ["in", ["geometry-type"], ["literal", ["LineString", "Polygon"]]],
      paint: { "line-color": kind === "fences"
                 ? ["interpolate", ["linear"], ["coalesce", ["get", "permeability"], 0], 0, "#b2182b", 1, "#1a9850"]
                 : colour,
               "line-width": kind === "fences" ? 3 : 1.5,
               "line-dasharray": ["case", generalised, ["literal", [2, 2]], ["literal", [1, 0]]] } },
    { id: `${name}-point`, type: "circle", source: name, filter: ["==", ["geometry-type"], "Point"],
      paint: { "circle-color": colour, "circle-radius": ["case", generalised, 7, 4],
               "circle-opacity": ["case", generalised, 0.35, 0.9],
               "circle-stroke-color": "#fff", "circle-stroke-width": 1 } },
  ];
}

function tally(name, features) {
  const counts = { exact: 0, generalised: 0 };
  for (const f of features) counts[f.properties.treatment === "exact" ? "exact" : "generalised"] += f.properties.count || 1;
  state.layers[name] = counts;
  return counts;
}

function putSource(name, kind, data) {
  if (map.getSource(name)) { map.getSource(name).setData(data); return; }
  map.addSource(name, { type: "geojson", data });
  for (const layer of styleLayers(name, kind)) map.addLayer(layer);
  map.on("click", `${name}-line`, (e) => showSegment(e.features[0].properties.fence_id));
  map.on("click", `${name}-point`, (e) => showSegment(e.features[0].properties.fence_id));
}

async function loadLayers() {
  const list = await (await api("/api/layers")).json();
  const box = document.getElementById("layers");
  box.innerHTML = "";
  state.layers = {};
  for (const layer of list) {
    const data = await (await api(`/api/layers/${encodeURIComponent(layer.name)}/features`)).json();
    const counts = tally(layer.name, data.features);
    putSource(layer.name, layer.kind, data);
    const row = document.createElement("label");
    row.innerHTML = `<input type="checkbox" checked> <span class="legend-swatch"></span>`;
    row.querySelector(".legend-swatch").style.background = COLOURS[layer.kind] || COLOURS.other;
    row.append(`${layer.title} (${counts.exact} ${t("exact")}, ${counts.generalised} ${t("generalised")})`);
    row.dataset.layer = layer.name;
    row.querySelector("input").addEventListener("change", (e) => {
      for (const suffix of ["fill", "line", "point"])
        map.setLayoutProperty(`${layer.name}-${suffix}`, "visibility", e.target.checked ? "visible" : "none");
    });
    box.append(row);
  }
  await loadRasters(box);
  if (state.me) await loadWorkspace();
}

// Current maps: PNG tiles the server renders for this caller (exact or coarsened, never chosen
// here). Sources are rebuilt on every load so that another user's tiles are never reused.
async function loadRasters(box) {
  for (const id of state.rasters || []) {
    if (map.getLayer(id)) map.removeLayer(id);
    if (map.getSource(id)) map.removeSource(id);
  }
  state.rasters = [];
  const reply = await api("/api/rasters");
  if (!reply.ok) return;
  for (const r of await reply.json()) {
    const id = `raster-${r.name}`;
    map.addSource(id, { type: "raster", tiles: [location.origin + r.tiles], tileSize: 256, bounds: r.bounds });
    map.addLayer({ id, type: "raster", source: id, paint: { "raster-opacity": 0.75 } }, "borders");
    state.rasters.push(id);
    const row = document.createElement("label");
    row.innerHTML = `<input type="checkbox" checked> `;
    row.append(`${r.title} (${t(r.treatment)}${r.grid_km ? `, ${r.grid_km} km` : ""})`);
    row.dataset.raster = r.name;
    row.querySelector("input").addEventListener("change", (e) => {
      map.setLayoutProperty(id, "visibility", e.target.checked ? "visible" : "none");
    });
    box.append(row);
  }
}

async function loadWorkspace() {
  const proposals = await api("/api/proposals");
  const list = proposals.ok ? await proposals.json() : [];
  putSource("proposals", "proposals", { type: "FeatureCollection", features: list.map((p) => ({
    type: "Feature", geometry: { type: "Point", coordinates: [p.lon, p.lat] },
    properties: { ...p, treatment: "exact" } })) });
  tally("proposals", list.map(() => ({ properties: { treatment: "exact" } })));
  renderProposals(list);
  const reports = await api("/api/reports");
  if (reports.ok) {
    const data = await reports.json();
    putSource("field_reports", "reports", data);
    tally("field_reports", data.features);
  }
  if (canDo("admin")) { await renderAudit(); await renderPolicy(); }
}

// The policy table, for admins: every change goes through the API (CSRF header, audited there).
const TREATMENTS = ["exact", "generalised", "withheld"];
const GRIDS = [0.1, 1, 10, 100];

function choice(options, value, label = (v) => t(String(v))) {
  const select = document.createElement("select");
  for (const option of options) select.add(new Option(label(option), option, false, String(option) === String(value)));
  return select;
}

async function renderPolicy() {
  const box = document.getElementById("policy");
  const reply = await api("/api/policy");
  if (!reply.ok) { box.innerHTML = ""; return; }
  box.innerHTML = `<h2>${t("Policy")}</h2>`;
  const table = document.createElement("table");
  table.id = "policy-table";
  table.innerHTML = `<tr><th>${t("Layer")}</th><th>${t("Level")}</th><th>${t("Role")}</th>` +
    `<th>${t("In its countries")}</th><th>${t("Elsewhere")}</th><th>${t("Grid km")}</th><th></th></tr>`;
  for (const row of await reply.json()) policyRow(table, row);
  policyRow(table, { layer: "", sensitivity: "restricted", role: "public", in_country: "withheld", elsewhere: "withheld", grid_km: 10 });
  box.append(table);
}

function policyRow(table, row) {
  const tr = table.insertRow();
  const isNew = !row.layer;
  const layer = document.createElement("input");
  layer.value = row.layer;
  layer.placeholder = t("Layer");
  layer.disabled = !isNew;
  const level = choice(["public", "restricted", "confidential"], row.sensitivity);
  const role = choice(["border_agency", "nature_agency", "scientist", "public"], row.role);
  level.disabled = role.disabled = !isNew;
  const inside = choice(TREATMENTS, row.in_country);
  const outside = choice(TREATMENTS, row.elsewhere);
  const grid = choice(GRIDS, row.grid_km, (v) => `${v}`);
  for (const element of [layer, level, role, inside, outside, grid]) tr.insertCell().append(element);
  const actions = tr.insertCell();
  const save = document.createElement("button");
  save.textContent = t(isNew ? "Add a row" : "Save");
  save.onclick = async () => {
    const body = { layer: layer.value, sensitivity: level.value, role: role.value,
      in_country: inside.value, elsewhere: outside.value, grid_km: Number(grid.value) };
    const answer = await api("/api/policy", { method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    if (answer.ok) { await renderPolicy(); await loadLayers(); }
    else actions.append(` ${(await answer.json()).detail}`);
  };
  actions.append(save);
  if (!isNew && row.layer !== "*") {
    const remove = document.createElement("button");
    remove.textContent = t("Delete");
    remove.onclick = async () => {
      const query = new URLSearchParams({ layer: row.layer, sensitivity: row.sensitivity, role: row.role });
      const answer = await api(`/api/policy?${query}`, { method: "DELETE" });
      if (answer.ok) { await renderPolicy(); await loadLayers(); }
    };
    actions.append(" ", remove);
  }
}

function canDo(verb, country) {
  return (state.me?.grants || []).some((g) => g.verbs.includes(verb) && (!country || g.country === country));
}

function renderProposals(list) {
  const box = document.getElementById("proposals");
  box.innerHTML = `<h2>${t("Proposed openings")}</h2>`;
  if (!list.length) box.append(t("None"));
  for (const p of list) {
    const div = document.createElement("div");
    div.className = "proposal";
    div.dataset.id = p.id;
    div.textContent = `${p.title} — ${p.country} ${p.fence_id} — ${t(p.status)} (${p.proposer})`;
    const mayDecide = p.status === "proposed" && p.proposer !== state.me.username &&
      (state.me.grants || []).some((g) => g.role === "border_agency" && g.country === p.country && g.verbs.includes("approve"));
    if (mayDecide) {
      for (const decision of ["approve", "reject"]) {
        const button = document.createElement("button");
        button.textContent = t(decision === "approve" ? "Approve" : "Reject");
        button.className = `decide-${decision}`;
        button.onclick = async () => {
          const reply = await api(`/api/proposals/${p.id}/decision`, { method: "POST",
            headers: { "Content-Type": "application/json" }, body: JSON.stringify({ decision }) });
          if (reply.ok) await loadWorkspace();
        };
        div.append(" ", button);
      }
    }
    box.append(div);
  }
}

async function renderAudit() {
  const reply = await api("/api/audit?limit=50");
  const box = document.getElementById("audit");
  if (!reply.ok) { box.innerHTML = ""; return; }
  const rows = await reply.json();
  box.innerHTML = `<h2>${t("Audit log")}</h2><a href="/api/audit.csv">${t("Export CSV")}</a>`;
  const table = document.createElement("table");
  table.id = "audit-table";
  table.innerHTML = `<tr><th>${t("When")}</th><th>${t("Who")}</th><th>${t("Action")}</th><th>${t("Target")}</th></tr>`;
  for (const r of rows) {
    const tr = table.insertRow();
    for (const value of [r.at.slice(0, 19).replace("T", " "), r.username, r.action, r.target]) tr.insertCell().textContent = value;
  }
  box.append(table);
}

async function showSegment(fenceId) {
  if (!fenceId) return;
  const reply = await api(`/api/segments/${encodeURIComponent(fenceId)}`);
  const box = document.getElementById("segment");
  if (!reply.ok) { box.textContent = ""; return; }
  const info = await reply.json();
  box.innerHTML = `<h2>${t("Fence segment")} ${info.fence_id}</h2>`;
  const table = document.createElement("table");
  for (const [layer, items] of Object.entries(info.layers)) {
    for (const item of items) {
      const tr = table.insertRow();
      tr.insertCell().textContent = layer;
      tr.insertCell().textContent = Object.entries(item)
        .filter(([k]) => !["treatment", "fence_id"].includes(k)).map(([k, v]) => `${k}: ${v}`).join(", ");
    }
  }
  for (const [name, rows] of Object.entries(info.tables || {})) {
    for (const item of rows) {
      const tr = table.insertRow();
      tr.insertCell().textContent = name;
      tr.insertCell().textContent = Object.entries(item)
        .filter(([k]) => k !== "fence_id").map(([k, v]) => `${k}: ${v}`).join(", ");
    }
  }
  box.append(table);
  box.append(`${t("Proposed openings")}: ${info.proposals.length}; ${t("Field reports")}: ${info.field_reports}`);
  box.append(openingEvidence(info.openings || {}));
}

// Evidence per opening: camera and tracks rows that name it, and field reports by species/month.
function openingEvidence(openings) {
  const table = document.createElement("table");
  table.className = "evidence";
  for (const [opening, evidence] of Object.entries(openings)) {
    const head = table.insertRow().insertCell();
    head.colSpan = 2;
    head.textContent = opening ? `${t("Opening")} ${opening}` : t("On the fence, no opening given");
    for (const [source, rows] of Object.entries(evidence.sources)) {
      const tr = table.insertRow();
      tr.insertCell().textContent = source;
      tr.insertCell().textContent = rows.map((row) => Object.entries(row)
        .filter(([k]) => !["treatment", "fence_id", "opening_id"].includes(k))
        .map(([k, v]) => `${k}: ${v}`).join(", ")).join("; ");
    }
    for (const r of evidence.field_reports) {
      const tr = table.insertRow();
      tr.insertCell().textContent = `${t("Field reports")} ${r.month}`;
      tr.insertCell().textContent = `${r.species} (${t(r.kind)}): ${r.reports} ${t("reports")}, ${r.animals} ${t("animals")}`;
    }
  }
  return table;
}

async function whoAmI() {
  const reply = await api("/api/me");
  state.me = reply.ok ? await reply.json() : null;
  state.csrf = state.me ? state.me.csrf_token : "";
  document.getElementById("login").hidden = !!state.me;
  document.getElementById("who").hidden = !state.me;
  if (state.me) document.getElementById("who-name").textContent =
    `${state.me.username}: ${state.me.grants.map((g) => `${t(g.role)} ${g.country}`).join(", ")}`;
}

document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const reply = await fetch("/api/login", { method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: form.get("username"), password: form.get("password") }) });
  document.getElementById("login-error").textContent = reply.ok ? "" : t("Sign-in failed");
  if (reply.ok) await refresh();
});
document.getElementById("logout").addEventListener("click", async () => {
  await api("/api/logout", { method: "POST" });
  for (const id of ["proposals", "audit", "policy", "segment"]) document.getElementById(id).innerHTML = "";
  for (const name of ["proposals", "field_reports"]) {
    if (map.getSource(name)) map.getSource(name).setData({ type: "FeatureCollection", features: [] });
  }
  await refresh();
});
document.getElementById("lang-en").onclick = () => crossingsI18n.set("en");
document.getElementById("lang-ru").onclick = () => crossingsI18n.set("ru");

async function refresh() {
  state.ready = false;
  await whoAmI();
  await loadLayers();
  map.once("idle", () => { state.ready = true; });
  map.triggerRepaint();
}

crossingsI18n.load().then(() => {
  translatePage();
  if (map.loaded()) refresh(); else map.on("load", refresh);
});
