// Keeps the phone page usable offline: the page and its scripts come from this cache when the
// network is gone. API calls are never cached (the queue lives in IndexedDB, see field.js).
const CACHE = "crossings-field-v1";
const SHELL = ["/field", "/static/field.js", "/static/i18n.js", "/static/ui.css"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});
self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim());
});
self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.pathname.startsWith("/api/") || !SHELL.includes(url.pathname)) return;
  // Network first, so a new version arrives when online; the cache when offline.
  event.respondWith(
    fetch(event.request).then((reply) => {
      const copy = reply.clone();
      caches.open(CACHE).then((cache) => cache.put(event.request, copy));
      return reply;
    }).catch(() => caches.match(event.request)),
  );
});
