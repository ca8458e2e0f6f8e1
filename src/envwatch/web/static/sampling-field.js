/* On-site sample entry (/sampling/plans/{id}/entry, 现场录入, WZ-A2-6).

   When the sampler presses "Register" on an item, the entry takes the phone's own clock (device_at) and its
   GPS position (high accuracy) at that moment; nothing of either is typed in. The entry gets a random id and
   goes first into a queue in localStorage (one queue per account), then the queue is sent to the sync API.
   An entry leaves the queue only when the server answered it: registered, already (sent before) or refused.
   Without a network (navigator.onLine false, or the request fails) the entry stays, flagged offline, and
   the queue is sent again when the browser says it is online, when the page is opened, every 30 s while
   entries wait, and with the "Send now" button. The server judges the entry (window, distance, offline age);
   the entry id makes a second sending harmless (the answer is "already").

   Same-origin file: the CSP forbids inline scripts. The texts come translated in the JSON block
   #field-texts; {name} placeholders are filled in here. */
(function () {
  "use strict";
  var QUEUE_PREFIX = "envwatch.sampling.queue.";
  var MAX_BATCH = 50;
  var RETRY_MS = 30000;
  var ANSWERED = { registered: true, already: true, refused: true };

  function fill(template, values) {
    return String(template).replace(/\{(\w+)\}/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : whole;
    });
  }

  // crypto.randomUUID needs a secure context; getRandomValues works everywhere (RFC 4122 version 4)
  function newId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)].join("-");
  }

  // great-circle distance in metres, for the sampler's information only (the server measures again)
  function distance(lat1, lon1, lat2, lon2) {
    var r = Math.PI / 180;
    var dp = (lat2 - lat1) * r;
    var dl = (lon2 - lon1) * r;
    var h = Math.pow(Math.sin(dp / 2), 2) +
      Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.pow(Math.sin(dl / 2), 2);
    return Math.round(2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(h))));
  }

  function start() {
    var root = document.getElementById("field-entry");
    var textBlock = document.getElementById("field-texts");
    if (!root || !textBlock) { return; }
    var texts = JSON.parse(textBlock.textContent);
    var queueKey = QUEUE_PREFIX + root.dataset.user;
    var point = { lat: parseFloat(root.dataset.lat), lon: parseFloat(root.dataset.lon) };
    var countEl = document.getElementById("queue-count");
    var sendNow = document.getElementById("send-now");
    var problemEl = document.getElementById("queue-problem");
    var networkEl = document.getElementById("network");
    var results = document.getElementById("results");
    var noResults = document.getElementById("no-results");
    var sampler = document.getElementById("sampler");
    var sending = false;
    var again = false;

    // --- the queue (read and written through localStorage each time: another tab may share it) ---
    function load() {
      try {
        var q = JSON.parse(window.localStorage.getItem(queueKey) || "[]");
        return Array.isArray(q) ? q : [];
      } catch (e) {
        return [];
      }
    }
    function store(q) {
      window.localStorage.setItem(queueKey, JSON.stringify(q));
      showQueue(q);
    }
    function showQueue(q) {
      countEl.textContent = String(q.length);
      sendNow.hidden = q.length === 0;
    }
    function change(fn) { store(fn(load())); }
    function without(ids) {
      change(function (q) { return q.filter(function (w) { return !ids[w.entry.entry_id]; }); });
    }
    function markOffline(ids) {
      change(function (q) {
        q.forEach(function (w) { if (ids[w.entry.entry_id]) { w.entry.offline = true; } });
        return q;
      });
    }

    function showNetwork() {
      var on = navigator.onLine;
      networkEl.textContent = on ? texts.online : texts.offline;
      networkEl.className = "badge " + (on ? "ok" : "bad");
      networkEl.dataset.online = on ? "yes" : "no";
    }
    function problem(text) {
      problemEl.textContent = text || "";
      problemEl.hidden = !text;
    }

    // --- answers ---
    function showResult(waiting, result) {
      var li = document.createElement("li");
      li.className = "sf-result " + result.status;
      li.dataset.status = result.status;
      li.dataset.entryId = result.entry_id;
      var head = document.createElement("span");
      head.className = "sf-label";
      head.textContent = waiting.label + (waiting.entry.offline ? " (" + texts.made_offline + ")" : "");
      li.appendChild(head);
      var body = document.createElement("span");
      if (result.status === "refused") {
        body.textContent = fill(texts.refused, { detail: result.detail || "" });
      } else {
        body.textContent = fill(result.status === "registered" ? texts.registered : texts.already,
          { code: result.code });
        var link = document.createElement("a");
        link.href = "/sampling/samples/" + encodeURIComponent(result.code);
        link.className = "sf-open";
        link.textContent = texts.open_sample;
        body.appendChild(document.createTextNode(" "));
        body.appendChild(link);
      }
      li.appendChild(body);
      results.insertBefore(li, results.firstChild);
      // the answer also shows in the item's own block, where the sampler is looking
      var form = document.getElementById("item-" + waiting.entry.plan_item_id);
      if (form) {
        var answer = form.querySelector(".sf-answer");
        answer.textContent = "";
        answer.appendChild(body.cloneNode(true));
        answer.className = "sf-answer " + result.status;
        answer.hidden = false;
        form.querySelector(".sf-status").textContent = form.dataset.position || "";
      }
      noResults.hidden = true;
      if (result.status === "registered") {
        var counter = document.getElementById("registered-" + waiting.entry.plan_item_id);
        if (counter) { counter.textContent = String(parseInt(counter.textContent, 10) + 1); }
      }
    }

    function answered(batch, answers) {
      var byId = {};
      batch.forEach(function (w) { byId[w.entry.entry_id] = w; });
      var done = {};
      answers.forEach(function (a) {
        if (!a || !byId[a.entry_id] || !ANSWERED[a.status]) { return; }
        done[a.entry_id] = true;
        showResult(byId[a.entry_id], a);
      });
      without(done);
    }

    function detailOf(body) {
      if (!body) { return ""; }
      if (typeof body.detail === "string") { return body.detail; }
      if (Array.isArray(body.detail)) {  // FastAPI's validation errors
        return body.detail.map(function (d) { return (d.loc || []).slice(-1).join("") + ": " + d.msg; }).join("; ");
      }
      return "";
    }

    // one request; resolves to true when the server answered (then the caller may go on)
    function post(batch) {
      return window.fetch(root.dataset.syncUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          "Accept": "application/json",
          "X-CSRF-Token": root.dataset.csrf
        },
        body: JSON.stringify({ entries: batch.map(function (w) { return w.entry; }) })
      }).then(function (response) {
        return response.json().catch(function () { return null; }).then(function (body) {
          if (response.ok && body && Array.isArray(body.results)) {
            problem("");
            answered(batch, body.results);
            return true;
          }
          if (response.status === 422 && batch.length > 1) {
            // one malformed entry must not hold back the others: send them one by one
            return batch.reduce(function (chain, w) {
              return chain.then(function (ok) { return ok ? post([w]) : false; });
            }, Promise.resolve(true));
          }
          if (response.status === 422) {  // this one entry can never be accepted: the server's answer
            answered(batch, [{ entry_id: batch[0].entry.entry_id, status: "refused", detail: detailOf(body) }]);
            return true;
          }
          if (response.status === 401) {
            problem(texts.login);
          } else if (response.status === 403) {
            problem(fill(texts.forbidden, { detail: detailOf(body) }));
          } else {
            problem(fill(texts.server_error, { status: response.status }));
          }
          return false;
        });
      }, function () {
        // no answer at all: the network is gone (or the server unreachable); the entries wait offline
        var ids = {};
        batch.forEach(function (w) { ids[w.entry.entry_id] = true; });
        markOffline(ids);
        showNetwork();
        return false;
      });
    }

    function flush() {
      var q = load();
      showQueue(q);
      if (!q.length) { return; }
      if (sending) { again = true; return; }
      if (!navigator.onLine) { showNetwork(); return; }
      sending = true;
      again = false;
      post(q.slice(0, MAX_BATCH)).then(function (ok) {
        sending = false;
        // more waiting (a bigger queue, or entries made while this request ran): go on while it works
        if ((ok && load().length) || again) { flush(); }
      }, function () { sending = false; });
    }

    // --- one entry per press of "Register" ---
    function register(form) {
      var button = form.querySelector("button[type=submit]");
      var status = form.querySelector(".sf-status");
      function say(text) { status.textContent = text; }
      var appearance = form.elements.appearance;
      if (!appearance.value.trim()) {
        appearance.focus();
        appearance.reportValidity();
        return;
      }
      if (sampler && !sampler.value) {
        say(texts.choose_sampler);
        sampler.focus();
        return;
      }
      var deviceAt = new Date().toISOString();  // the moment of the press, by the phone's clock
      var entryId = newId();
      button.disabled = true;
      say(texts.locating);
      navigator.geolocation.getCurrentPosition(function (pos) {
        var lat = pos.coords.latitude;
        var lon = pos.coords.longitude;
        var waiting = {
          label: form.dataset.label,
          entry: {
            entry_id: entryId,
            plan_item_id: parseInt(form.dataset.itemId, 10),
            staff_id: sampler ? parseInt(sampler.value, 10) : null,
            appearance: appearance.value.trim(),
            preservative: form.elements.preservative.value.trim(),
            device_at: deviceAt,
            latitude: Number(lat.toFixed(6)),
            longitude: Number(lon.toFixed(6)),
            offline: !navigator.onLine,
            sampled_at: null,
            seal_no: form.elements.seal_no.value.trim() || null,
            note: form.elements.note.value.trim()
          }
        };
        try {
          change(function (q) { q.push(waiting); return q; });
        } catch (e) {
          say(texts.storage);
          button.disabled = false;
          return;
        }
        form.elements.seal_no.value = "";
        form.elements.note.value = "";
        form.dataset.position = fill(texts.taken, {
          lat: lat.toFixed(6), lon: lon.toFixed(6), acc: Math.round(pos.coords.accuracy),
          dist: distance(lat, lon, point.lat, point.lon)
        });
        say(form.dataset.position + " " + (navigator.onLine ? texts.sending : texts.queued));
        button.disabled = false;
        flush();
      }, function () {
        say(texts.no_position);
        button.disabled = false;
      }, { enableHighAccuracy: true, timeout: 30000, maximumAge: 0 });
    }

    var forms = document.querySelectorAll("form.sf-item");
    Array.prototype.forEach.call(forms, function (form) {
      var button = form.querySelector("button[type=submit]");
      if (!("geolocation" in navigator)) {
        form.querySelector(".sf-status").textContent = texts.no_geolocation;
        return;
      }
      button.disabled = false;
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        register(form);
      });
    });

    sendNow.addEventListener("click", flush);
    window.addEventListener("online", function () { showNetwork(); flush(); });
    window.addEventListener("offline", showNetwork);
    window.addEventListener("storage", function (event) { if (event.key === queueKey) { showQueue(load()); } });
    window.setInterval(function () { if (load().length) { flush(); } }, RETRY_MS);
    showNetwork();
    flush();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
