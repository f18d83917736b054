// Service worker: the assets from its cache (their URLs change with their content); a
// village's worklist (the village page and its households' pages) from the network, a
// copy kept so that it opens offline once it has been opened online. POSTs are never
// touched: a failed save is the page's to queue (app.js). Served by portal/assets.py,
// which writes in the asset URLs and the version.
"use strict";
var V = "/*version*/", ASSETS = /*assets*/[], A = "assets-" + V, P = "pages",
  ROOT = new URL(self.registration.scope).pathname,
  WORKLIST = new RegExp("^" + ROOT + "(villages|households)/\\d+$");

// A page never opened online: say so plainly, instead of the browser's own error.
function offline() {
  return new Response('<!doctype html><html lang="vi"><meta charset="utf-8"><meta name="viewport" ' +
    'content="width=device-width,initial-scale=1"><title>Mất kết nối</title><main style="font:1rem/1.5 ' +
    'system-ui,sans-serif;max-width:30rem;margin:1rem auto;padding:0 1rem"><h1>Mất kết nối</h1><p>Trang ' +
    'này chưa được mở khi có mạng nên chưa có trên máy. Những trang đã mở trước đó (thôn, hộ) vẫn xem ' +
    'và lưu được; các thay đổi sẽ gửi khi có mạng.</p><p lang="en">No connection: this page was not ' +
    'opened while online. Pages opened before still work.</p><p><a href="javascript:history.back()">' +
    'Quay lại</a></p></main></html>', {status: 503, headers: {"Content-Type": "text/html; charset=utf-8"}});
}

self.addEventListener("install", function (e) {
  e.waitUntil(caches.open(A).then(function (c) { return c.addAll(ASSETS); })
    .then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (e) {
  e.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k.indexOf("assets-") === 0 && k !== A; })
      .map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }).then(function () {
    // A worklist page open while this worker arrived was fetched without it: keep it too.
    return self.clients.matchAll({type: "window"});
  }).then(function (list) {
    return caches.open(P).then(function (c) {
      return Promise.all(list.filter(function (cl) { return WORKLIST.test(new URL(cl.url).pathname); })
        .map(function (cl) { return c.add(cl.url).catch(function () {}); }));
    });
  }));
});

self.addEventListener("fetch", function (e) {
  var r = e.request, u = new URL(r.url), h = r.headers;
  if (r.method !== "GET" || u.origin !== location.origin) return;
  if (u.pathname.indexOf(ROOT + "assets/") === 0) {
    e.respondWith(caches.match(r).then(function (hit) { return hit || fetch(r); }));
    return;
  }
  // Full pages only: a plain htmx request would get a fragment.
  if (!WORKLIST.test(u.pathname) || (h.get("HX-Request") && !h.get("HX-Boosted") &&
      !h.get("HX-History-Restore-Request"))) return;
  e.respondWith(fetch(r).then(function (res) {
    if (res.ok && res.type === "basic" && !res.redirected) {
      var copy = res.clone();
      e.waitUntil(caches.open(P).then(function (c) { return c.put(u.href, copy); }));
    }
    return res;
  }, function () {
    return caches.match(u.href, {cacheName: P, ignoreVary: true}).then(function (hit) {
      return hit || (r.mode === "navigate" ? offline() : Response.error());
    });
  }));
});
