// Our one script: the outbox for a weak link. A review save that cannot reach the server
// is kept on the device (localStorage: it survives a reload and a closed browser) with
// its idempotency key and the record's version, the card keeps what was typed, and a
// banner says so. When the link returns (online event, a request that gets through, page
// load, every 30 s) each save is sent again, after a fresh CSRF token: the server applies
// a key once; a record changed meanwhile comes back as the conflict card with both
// values; an ended session keeps the queue and asks to log in. It also registers the
// service worker that keeps a village's worklist for offline use.
(function () {
  "use strict";
  var S = document.currentScript.dataset, BOX = "outbox", busy = false, down = false,
    loggedOut = false, sent = 0, rejected = 0, user = null;

  function load() { try { return JSON.parse(localStorage.getItem(BOX)) || []; } catch (e) { return []; } }
  function store(items) { localStorage.setItem(BOX, JSON.stringify(items)); }
  function field(it, name) { for (var i = 0; i < it.f.length; i++) if (it.f[i][0] === name) return it.f[i][1]; }
  function keyOf(it) { return field(it, "idempotency_key"); }
  function data(f) { return JSON.stringify(f.filter(function (p) { return !/^(csrf_token|idempotency_key)$/.test(p[0]); })); }
  function outboxForm(elt) { return elt && elt.closest ? elt.closest("form[data-outbox]") : null; }
  function forms(url) { return document.querySelector('form[data-outbox][action="' + url + '"]'); }
  function visible(it) { return !user || it.u === user; }
  function say(name, n) { return (S[name] || "").replace("{n}", n); }

  function newKey() {
    var a = crypto.getRandomValues(new Uint8Array(16));
    return btoa(String.fromCharCode.apply(null, a)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function swap(card, html) {
    if (window.htmx) htmx.swap(card, html, {swapStyle: "outerHTML"}); else card.outerHTML = html;
  }

  function mark(form) {
    var h = form.closest("article"), tag;
    h = h && h.querySelector("h2");
    if (h && !h.querySelector("[data-q]")) {
      tag = document.createElement("span");
      tag.className = "tag warning";
      tag.setAttribute("data-q", "");
      tag.textContent = S.queued;
      h.appendChild(tag);
    }
  }

  // An empty visit date means "today": written in as the form is sent, so that a save sent
  // again later keeps the day it was made (and the same fields, for its idempotency key).
  document.addEventListener("submit", function (e) {
    var now = new Date(), day = now.getFullYear() + "-" + ("0" + (now.getMonth() + 1)).slice(-2) +
      "-" + ("0" + now.getDate()).slice(-2);
    Array.prototype.forEach.call(e.target.querySelectorAll("input[name$='visited_on']"), function (el) {
      if (!el.value) el.value = day;
    });
  }, true);

  // Keep a form's save on the device; a second save of the same form replaces it unless
  // it says the same thing (then the first, with its key, stands).
  function queue(form) {
    var url = form.getAttribute("action"), f = [], items = load(), i;
    new FormData(form).forEach(function (v, k) { if (typeof v === "string") f.push([k, v]); });
    for (i = 0; i < items.length && items[i].url !== url; i++);
    if (!items[i] || items[i].c || data(items[i].f) !== data(f)) {
      items[i] = {url: url, f: f, t: form.getAttribute("hx-target"), p: location.pathname, u: form.getAttribute("data-outbox")};
      store(items);
    }
    form.elements.idempotency_key.value = newKey(); // what is typed next is another save
    mark(form);
    show();
  }

  // Show the queued saves in the cards of this page: what was typed, or the conflict
  // (its form then takes this page's CSRF token: the stored one may have expired).
  function restore() {
    var t = (document.body.getAttribute("hx-headers") || "").match(/"X-CSRFToken":"([^"]*)"/);
    load().forEach(function (it) {
      var card = it.t && document.querySelector(it.t), form = forms(it.url), d;
      if (!card || !visible(it)) return;
      if (it.c) return swap(card, it.c);
      if (!form) return;
      it.f.forEach(function (p) {
        var el = form.elements[p[0]];
        if (el && !/^(csrf_token|idempotency_key)$/.test(p[0])) el.value = p[1];
      });
      d = form.closest("details");
      if (d) d.open = true;
      mark(form);
    });
    if (t) fresh(t[1]);
    show();
  }

  function fresh(token) {
    document.querySelectorAll("input[name=csrf_token]").forEach(function (i) { i.value = token; });
    var b = document.body, h = b.getAttribute("hx-headers");
    if (h) b.setAttribute("hx-headers", h.replace(/"X-CSRFToken":"[^"]*"/, '"X-CSRFToken":"' + token + '"'));
  }

  function flush() {
    if (busy || !load().some(function (it) { return !it.c; })) return show();
    busy = true;
    fetch(S.token, {redirect: "manual", cache: "no-store", credentials: "same-origin"}).then(function (r) {
      if (r.type === "opaqueredirect" || r.status === 401) throw "login";
      if (!r.ok) throw "down";
      return r.json();
    }).then(function (j) {
      fresh(j.token);
      user = j.user;
      loggedOut = down = false;
      return load().filter(function (it) { return !it.c && it.u === user; }).reduce(function (p, it) {
        return p.then(function () { return send(it, j.token); });
      }, Promise.resolve());
    }).catch(function (e) {
      if (e === "login") loggedOut = true; else down = true;
    }).then(function () {
      busy = false;
      show();
    });
  }

  function send(it, token) {
    var body = new URLSearchParams();
    it.f.forEach(function (p) { body.append(p[0], p[0] === "csrf_token" ? token : p[1]); });
    return fetch(it.url, {method: "POST", body: body, redirect: "manual", credentials: "same-origin",
                          headers: {"HX-Request": "true", "X-CSRFToken": token}}).then(function (r) {
      if (r.type === "opaqueredirect" || r.status === 401 || r.status === 400) throw "login";
      if (r.status >= 500) throw "down";
      return r.text().then(function (html) {
        var k = keyOf(it), items = load().filter(function (x) { return keyOf(x) !== k; }),
          card = it.t && document.querySelector(it.t);
        if (r.status === 409 || r.status === 422) { // kept, shown, until that card is saved again
          it.c = html;
          items.push(it);
          if (card) swap(card, html);
        } else if (r.status >= 400) {
          rejected++;
        } else {
          sent++;
          if (card && !r.headers.get("HX-Refresh")) swap(card, html);
        }
        store(items);
      });
    });
  }

  function show() {
    var q = 0, c = 0, page = null, box = document.getElementById("outbox"), main = document.querySelector("main"), a;
    load().forEach(function (it) {
      if (!visible(it)) return;
      if (!it.c) return q++;
      c++;
      if (!document.querySelector(it.t)) page = it.p; // the conflict is on another page
    });
    if (!main) return;
    if (!box) {
      box = document.createElement("div");
      box.id = "outbox";
      box.setAttribute("role", "status");
      main.insertBefore(box, main.firstChild);
    }
    box.className = "flash" + (loggedOut || c ? " error" : "");
    box.textContent = "";
    function line(text, href, label) {
      var p = document.createElement("p");
      p.textContent = text + " ";
      if (href) {
        a = document.createElement("a");
        a.href = href;
        a.textContent = label;
        p.appendChild(a);
      }
      box.appendChild(p);
    }
    if (q && loggedOut) line(say("loginText", q), location.pathname === S.login ? null : S.login + "?next=" + encodeURIComponent(location.pathname), S.loginLink);
    else if (q) line(say(down || !navigator.onLine ? "offline" : "sending", q));
    if (c) line(say("conflict", c), page, S.open);
    if (sent) line(say("sent", sent));
    if (rejected) line(say("rejected", rejected));
    if (!box.firstChild) box.remove();
  }

  document.addEventListener("htmx:beforeRequest", function (e) {
    var form = outboxForm(e.detail.elt), url = form && form.getAttribute("action");
    if (form && (!navigator.onLine || load().some(function (it) { return it.url === url && !it.c; }))) {
      e.preventDefault(); // offline, or an earlier save of this card still waits: behind it
      queue(form);
      flush();
    }
  });
  function lost(e) { // no answer, or a gateway's: the save may or may not have arrived
    var form = outboxForm(e.detail.elt), x = e.detail.xhr;
    if (e.type === "htmx:responseError" && !(x.status >= 502 && x.status <= 504)) return;
    down = true;
    if (form) queue(form);
  }
  document.addEventListener("htmx:sendError", lost);
  document.addEventListener("htmx:responseError", lost);
  document.addEventListener("htmx:afterRequest", function (e) {
    var x = e.detail.xhr, c = e.detail.requestConfig || {};
    if (!x || !x.status || x.status >= 500) return;
    if (c.verb === "post" && x.status < 300) { // a card saved: its conflict is settled
      store(load().filter(function (it) { return it.url !== c.path; }));
    }
    if (down) flush(); // a request got through: the link is back
  });
  document.addEventListener("htmx:afterSettle", function (e) { // a new page (boosted link or form)
    if (e.target === document.body) { restore(); flush(); }
  });
  document.addEventListener("submit", function (e) { // logging out: no worklist left on the device
    if (/\/logout$/.test(e.target.action) && window.caches) caches.delete("pages");
  }, true);
  addEventListener("online", function () { down = false; flush(); });
  addEventListener("offline", function () { down = true; show(); });
  addEventListener("storage", function (e) { if (e.key === BOX) show(); });
  setInterval(flush, 30000);
  if (S.sw && navigator.serviceWorker) {
    addEventListener("load", function () { navigator.serviceWorker.register(S.sw).catch(function () {}); });
  }
  restore();
  flush();
})();
