// Offline field reports: every report goes into an IndexedDB queue first and leaves it only once
// the server has stored it. Entries are kept per user: signing out or switching user never drops
// them, and each user's reports are sent only in that user's own session.
const DB_NAME = "crossings-field", STORE = "queue";
const field = { me: null, csrf: "", syncing: false };
window.crossingsField = field;

function openQueue() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: "client_id" });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function queueDo(mode, action) {
  const db = await openQueue();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const result = action(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(result && "result" in result ? result.result : undefined);
    tx.onerror = () => reject(tx.error);
  });
}
const queueAll = () => queueDo("readonly", (s) => s.getAll());
const queuePut = (entry) => queueDo("readwrite", (s) => s.put(entry));
const queueDelete = (id) => queueDo("readwrite", (s) => s.delete(id));

async function renderQueue() {
  const entries = await queueAll();
  const box = document.getElementById("queue");
  box.innerHTML = "";
  const mine = entries.filter((e) => e.owner === field.me?.username).length;
  const summary = document.createElement("p");
  summary.id = "queue-count";
  summary.dataset.total = entries.length;
  summary.textContent = `${t("Waiting")}: ${entries.length} (${t("yours")}: ${mine})`;
  box.append(summary);
  for (const entry of entries) {
    const row = document.createElement("div");
    row.className = "queued";
    row.textContent = `${entry.fields.observed_at} ${entry.fields.species} ×${entry.fields.count} — ${entry.owner}` +
      (entry.error ? ` — ${t("refused")}: ${entry.error}` : "");
    box.append(row);
  }
}

function setNetwork() {
  document.getElementById("network").textContent = navigator.onLine ? t("online") : t("offline");
}

async function whoAmI() {
  try {
    const reply = await fetch("/api/me", { credentials: "same-origin" });
    field.me = reply.ok ? await reply.json() : null;
    if (field.me) localStorage.setItem("crossings-field-user", JSON.stringify(field.me));
    else if (reply.status === 401) localStorage.removeItem("crossings-field-user");
  } catch (e) {
    // Offline: the last signed-in user keeps reporting into the queue.
    field.me = JSON.parse(localStorage.getItem("crossings-field-user") || "null");
  }
  field.csrf = field.me?.csrf_token || "";
  document.getElementById("who").textContent = field.me ? field.me.username : t("not signed in");
  document.getElementById("login").hidden = !!field.me;
  document.getElementById("logout").hidden = !field.me;
}

async function sync() {
  if (field.syncing || !navigator.onLine || !field.me) return;
  field.syncing = true;
  try {
    for (const entry of await queueAll()) {
      if (entry.owner !== field.me.username || entry.error) continue;
      const body = new FormData();
      for (const [k, v] of Object.entries(entry.fields)) body.append(k, v);
      body.append("client_id", entry.client_id);
      if (entry.photo) body.append("photo", entry.photo, "photo");
      let reply;
      try {
        reply = await fetch("/api/reports", { method: "POST", body, credentials: "same-origin",
                                              headers: { "X-CSRF-Token": field.csrf } });
      } catch (e) { break; }  // the network went away: try again when it is back
      if (reply.ok) await queueDelete(entry.client_id);
      else if (reply.status === 401 || reply.status === 403) break;  // session gone: keep it
      else if (reply.status >= 400 && reply.status < 500) {
        // Refused for its content: keep it, visible, so the ranger can see why.
        const detail = await reply.json().catch(() => ({}));
        entry.error = typeof detail.detail === "string" ? detail.detail : `HTTP ${reply.status}`;
        await queuePut(entry);
      }
    }
  } finally {
    field.syncing = false;
    await renderQueue();
  }
}

document.getElementById("report").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!field.me) { document.getElementById("login").hidden = false; return; }
  const form = new FormData(event.target);
  const local = form.get("observed_at");
  const fields = {};
  for (const name of ["kind", "species", "count", "lon", "lat", "country", "fence_id", "opening_id", "note"])
    fields[name] = form.get(name) || "";
  fields.observed_at = new Date(local).toISOString();
  const photo = form.get("photo");
  await queuePut({ client_id: crypto.randomUUID(), owner: field.me.username, fields,
                   photo: photo && photo.size ? photo : null, queued_at: new Date().toISOString() });
  event.target.reset();
  defaults();
  await renderQueue();
  await sync();
});

document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const reply = await fetch("/api/login", { method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: form.get("username"), password: form.get("password") }) });
  document.getElementById("login-error").textContent = reply.ok ? "" : t("Sign-in failed");
  await whoAmI();
  await renderQueue();
  await sync();
});

document.getElementById("logout").addEventListener("click", async () => {
  try {
    await fetch("/api/logout", { method: "POST", credentials: "same-origin",
                                 headers: { "X-CSRF-Token": field.csrf } });
  } catch (e) { /* offline: the session ends on the server when it expires */ }
  localStorage.removeItem("crossings-field-user");
  await whoAmI();
  await renderQueue();  // the queue is untouched
});

document.getElementById("locate").addEventListener("click", () => {
  navigator.geolocation?.getCurrentPosition((p) => {
    const form = document.getElementById("report");
    form.lon.value = p.coords.longitude.toFixed(5);
    form.lat.value = p.coords.latitude.toFixed(5);
  });
});

function defaults() {
  const now = new Date();
  now.setMinutes(now.getMinutes() - now.getTimezoneOffset());
  document.getElementById("report").observed_at.value = now.toISOString().slice(0, 16);
}

window.addEventListener("online", async () => { setNetwork(); await whoAmI(); await sync(); });
window.addEventListener("offline", setNetwork);

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js").then(() => navigator.serviceWorker.ready)
    .then(() => { field.workerReady = true; });
}

crossingsI18n.load().then(async () => {
  translatePage();
  defaults();
  setNetwork();
  await whoAmI();
  await renderQueue();
  await sync();
  field.ready = true;
});
