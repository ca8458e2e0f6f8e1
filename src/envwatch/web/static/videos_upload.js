/* Upload of a video record (/evidence/videos/upload, 视频记录上传, WZ-A1).

   The file goes to the tus endpoint (data-endpoint, /api/v1/evidence/uploads) with the vendored
   tus-js-client in chunks of data-chunk bytes (8 MiB): memory stays flat whatever the file's size, and an
   interrupted upload goes on from the last chunk the server acknowledged:

   - a network drop: tus-js-client retries on its own (retryDelays); when it gives up, or the browser says
     it is offline, the page waits for the "online" event (and tries again every RETRY_MS) and starts the
     same upload again, which asks the server for the offset (HEAD) and sends the rest;
   - a reload or a closed tab: the upload URL is kept in localStorage under the file's fingerprint (name,
     type, size, last modified, endpoint: tus-js-client's urlStorage); choosing the same file again finds
     it (findPreviousUploads) and resumes. The form's fields are kept as a draft in localStorage too, so
     nothing has to be typed again.

   When the file is complete, the metadata go to data-finish-url (POST /api/v1/evidence/videos) with the
   upload's id; the answer's record id leads to the record's page. A refused finish (422) leaves the upload
   as it is: the user corrects the form and presses the button again, and only the finish is sent again.

   Writes with the session cookie carry the session's CSRF token in X-CSRF-Token (web/auth.py: every POST,
   PATCH, DELETE of a browser session must); HEAD needs none. Same-origin file: the CSP forbids inline
   scripts. The texts come translated in the JSON block #video-texts; {name} placeholders are filled here. */
(function () {
  "use strict";
  var DRAFT_KEY = "envwatch.video.draft.";
  var RETRY_MS = 10000;
  var MB = 1024 * 1024;

  function fill(template, values) {
    return String(template).replace(/\{(\w+)\}/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : whole;
    });
  }

  function megabytes(bytes) {
    return (bytes / MB).toFixed(1);
  }

  // FastAPI's answers: {"detail": "..."} or a list of validation errors
  function detailOf(body) {
    if (!body) { return ""; }
    if (typeof body.detail === "string") { return body.detail; }
    if (Array.isArray(body.detail)) {
      return body.detail.map(function (d) { return (d.loc || []).slice(-1).join("") + ": " + d.msg; }).join("; ");
    }
    return "";
  }

  function start() {
    var form = document.getElementById("video-upload");
    var textBlock = document.getElementById("video-texts");
    if (!form || !textBlock) { return; }
    var texts = JSON.parse(textBlock.textContent);
    var fileInput = document.getElementById("video-file");
    var button = document.getElementById("upload-button");
    var bar = document.getElementById("upload-progress");
    var percentEl = document.getElementById("upload-percent");
    var bytesEl = document.getElementById("upload-bytes");
    var speedEl = document.getElementById("upload-speed");
    var statusEl = document.getElementById("upload-status");
    var problemEl = document.getElementById("upload-problem");
    var progressBox = document.getElementById("upload-box");
    var draftKey = DRAFT_KEY + (form.dataset.user || "") + "." + (form.dataset.agency || "");

    if (!window.tus || !window.tus.isSupported) {
      problem(texts.unsupported);
      button.disabled = true;
      return;
    }

    var upload = null;       // the tus upload of the chosen file
    var uploadedUrl = null;  // set once the file is complete on the server
    var waitTimer = null;
    var speed = { at: 0, bytes: 0, rate: 0 };

    function problem(text) {
      problemEl.textContent = text || "";
      problemEl.hidden = !text;
    }

    function status(text) {
      statusEl.textContent = text || "";
    }

    function showProgress(sent, total) {
      var percent = total > 0 ? Math.floor((sent / total) * 100) : 0;
      bar.value = percent;
      bar.setAttribute("aria-valuenow", String(percent));
      percentEl.textContent = percent + " %";
      bytesEl.textContent = fill(texts.bytes, { sent: megabytes(sent), total: megabytes(total) });
      var now = Date.now();
      if (speed.at === 0) {
        speed = { at: now, bytes: sent, rate: 0 };
      } else if (now - speed.at >= 1000) {
        // bytes per second over the last second or more, smoothed so the figure does not jump
        var rate = ((sent - speed.bytes) * 1000) / (now - speed.at);
        speed = { at: now, bytes: sent, rate: speed.rate ? 0.7 * speed.rate + 0.3 * rate : rate };
      }
      speedEl.textContent = speed.rate > 0 ? fill(texts.speed, { mbps: megabytes(speed.rate) }) : "";
    }

    // ---- the draft of the form (kept across a reload) ----

    function fieldsOf() {
      var draft = {};
      Array.prototype.forEach.call(form.elements, function (el) {
        if (!el.name || el.type === "file" || el.type === "hidden") { return; }
        if (el.type === "checkbox") {
          draft[el.name + ":" + el.value] = el.checked;
        } else {
          draft[el.name] = el.value;
        }
      });
      return draft;
    }

    function saveDraft() {
      try { window.localStorage.setItem(draftKey, JSON.stringify(fieldsOf())); } catch (e) { /* storage off */ }
    }

    function restoreDraft() {
      var draft = null;
      try { draft = JSON.parse(window.localStorage.getItem(draftKey) || "null"); } catch (e) { draft = null; }
      if (!draft) { return; }
      Array.prototype.forEach.call(form.elements, function (el) {
        if (!el.name || el.type === "file" || el.type === "hidden") { return; }
        if (el.type === "checkbox") {
          var key = el.name + ":" + el.value;
          if (Object.prototype.hasOwnProperty.call(draft, key)) { el.checked = !!draft[key]; }
        } else if (Object.prototype.hasOwnProperty.call(draft, el.name) && draft[el.name] !== "") {
          el.value = draft[el.name];
        }
      });
      status(texts.draft_restored);
    }

    function dropDraft() {
      try { window.localStorage.removeItem(draftKey); } catch (e) { /* storage off */ }
    }

    // ---- what the finish call sends ----

    function list(text) {
      return String(text || "").split(/[\s,，;；、]+/).filter(function (s) { return s !== ""; });
    }

    // a datetime-local value (China local time, typed as such) as an ISO instant with the +08:00 offset
    function chinaInstant(value) {
      if (!value) { return null; }
      return (value.length === 16 ? value + ":00" : value) + "+08:00";
    }

    function numberOrNull(value) {
      return value === "" || value == null ? null : Number(value);
    }

    function finishBody(uploadId) {
      var staff = Array.prototype.filter.call(form.querySelectorAll("input[name=staff_ids]"), function (el) {
        return el.checked;
      }).map(function (el) { return Number(el.value); });
      var body = {
        upload_id: uploadId,
        stage: form.elements.stage.value,
        agency_id: numberOrNull(form.dataset.agency),
        enterprise_id: numberOrNull(form.elements.enterprise_id.value),
        plan_id: numberOrNull(form.elements.plan_id.value),
        sample_codes: list(form.elements.sample_codes.value),
        staff_ids: staff,
        device_numbers: list(form.elements.device_numbers.value),
        landmark: form.elements.landmark.value.trim(),
        latitude: form.elements.latitude.value.trim() || null,
        longitude: form.elements.longitude.value.trim() || null,
        recorded_start: chinaInstant(form.elements.recorded_start.value),
        recorded_end: chinaInstant(form.elements.recorded_end.value),
        annotation: form.elements.annotation.value.trim()
      };
      return body;
    }

    function uploadIdOf(url) {
      var parts = String(url).split("?")[0].split("/");
      return parts[parts.length - 1];
    }

    function finish() {
      status(texts.finishing);
      return window.fetch(form.dataset.finishUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          "Accept": "application/json",
          "X-CSRF-Token": form.dataset.csrf
        },
        body: JSON.stringify(finishBody(uploadIdOf(uploadedUrl)))
      }).then(function (response) {
        return response.json().catch(function () { return null; }).then(function (answer) {
          if (response.ok && answer && answer.id != null) {
            forget();
            dropDraft();
            status(texts.done);
            window.location.assign(form.dataset.recordPath.replace("{id}", String(answer.id)));
            return;
          }
          button.disabled = false;
          button.textContent = texts.finish_again;
          if (response.status === 401) {
            problem(texts.login);
          } else {
            problem(fill(texts.refused, { detail: detailOf(answer) || ("HTTP " + response.status) }));
          }
          status("");
        });
      }).catch(function () {
        button.disabled = false;
        button.textContent = texts.finish_again;
        problem(texts.finish_network);
      });
    }

    // the upload's resume entry is removed only once the record exists (a finish refused after a reload
    // must still find the complete upload instead of sending the file again)
    function forget() {
      if (!upload) { return; }
      var storage = window.tus.defaultOptions.urlStorage;
      upload.findPreviousUploads().then(function (previous) {
        previous.forEach(function (p) { if (storage) { storage.removeUpload(p.urlStorageKey); } });
      }).catch(function () { /* nothing kept */ });
    }

    // ---- the upload ----

    function waitAndResume() {
      if (waitTimer) { return; }
      status(navigator.onLine === false ? texts.offline : texts.interrupted);
      waitTimer = window.setTimeout(resume, RETRY_MS);
    }

    function resume() {
      if (waitTimer) { window.clearTimeout(waitTimer); waitTimer = null; }
      if (!upload || uploadedUrl) { return; }
      status(texts.resuming);
      speed = { at: 0, bytes: 0, rate: 0 };
      upload.start();  // HEAD asks the server for its offset; the rest follows from there
    }

    window.addEventListener("online", function () { if (upload && !uploadedUrl) { resume(); } });

    function statusOf(err) {
      return err && err.originalResponse ? err.originalResponse.getStatus() : 0;
    }

    function newUpload(file) {
      return new window.tus.Upload(file, {
        endpoint: form.dataset.endpoint,
        chunkSize: Number(form.dataset.chunk),
        retryDelays: [0, 1000, 3000, 5000, 10000],
        headers: { "X-CSRF-Token": form.dataset.csrf },
        metadata: { filename: file.name, filetype: file.type || "application/octet-stream" },
        storeFingerprintForResuming: true,
        removeFingerprintOnSuccess: false,  // see forget()
        onProgress: showProgress,
        onSuccess: function () {
          uploadedUrl = upload.url;
          showProgress(file.size, file.size);
          finish();
        },
        onError: function (err) {
          var code = statusOf(err);
          if (code >= 400 && code < 500 && code !== 409 && code !== 423) {
            // refused (too large, not a video, session over, ...): trying again would not help
            button.disabled = false;
            problem(code === 401 ? texts.login : fill(texts.upload_refused, {
              detail: (err.originalResponse && err.originalResponse.getBody()) || ("HTTP " + code)
            }));
            status("");
            return;
          }
          waitAndResume();
        }
      });
    }

    function begin(file) {
      problem("");
      upload = newUpload(file);
      uploadedUrl = null;
      progressBox.hidden = false;
      showProgress(0, file.size);
      upload.findPreviousUploads().then(function (previous) {
        if (previous.length > 0) {
          previous.sort(function (a, b) { return String(b.creationTime).localeCompare(String(a.creationTime)); });
          upload.resumeFromPreviousUpload(previous[0]);
          status(texts.resuming);
        } else {
          status(texts.uploading);
        }
        upload.start();
      }).catch(function () {
        status(texts.uploading);
        upload.start();
      });
    }

    // ---- the form ----

    form.addEventListener("input", saveDraft);
    form.addEventListener("change", saveDraft);

    // a plan names its enterprise: choosing the plan chooses it (the server takes the plan's anyway)
    var planSelect = document.getElementById("plan");
    planSelect.addEventListener("change", function () {
      var chosen = planSelect.options[planSelect.selectedIndex];
      var enterprise = chosen ? chosen.getAttribute("data-enterprise") : "";
      if (enterprise) { form.elements.enterprise_id.value = enterprise; }
    });

    var locate = document.getElementById("locate");
    if (locate) {
      if (!navigator.geolocation) {
        locate.hidden = true;
      }
      locate.addEventListener("click", function () {
        var where = document.getElementById("position-status");
        where.textContent = texts.locating;
        navigator.geolocation.getCurrentPosition(function (pos) {
          form.elements.latitude.value = pos.coords.latitude.toFixed(6);
          form.elements.longitude.value = pos.coords.longitude.toFixed(6);
          where.textContent = fill(texts.located, { acc: Math.round(pos.coords.accuracy) });
          saveDraft();
        }, function () {
          where.textContent = texts.no_position;
        }, { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 });
      });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!form.reportValidity()) { return; }
      button.disabled = true;
      if (uploadedUrl) {  // the file is on the server: only the finish is sent again
        problem("");
        finish();
        return;
      }
      var file = fileInput.files && fileInput.files[0];
      if (!file) {
        button.disabled = false;
        problem(texts.no_file);
        return;
      }
      if (Number(form.dataset.max) > 0 && file.size > Number(form.dataset.max)) {
        button.disabled = false;
        problem(fill(texts.too_large, { max: megabytes(Number(form.dataset.max)) }));
        return;
      }
      begin(file);
    });

    // a different file after a finished upload starts over
    fileInput.addEventListener("change", function () {
      if (upload && !uploadedUrl) { upload.abort(false); }
      upload = null;
      uploadedUrl = null;
      button.textContent = texts.upload;
      button.disabled = false;
    });

    restoreDraft();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
