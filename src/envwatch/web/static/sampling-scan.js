/* Scanning a label with the phone's camera (/sampling/scan).

   The camera button opens the back camera (getUserMedia; browsers allow it on HTTPS or localhost only),
   copies frames onto a canvas a few times a second and reads a QR code from them: with the browser's
   BarcodeDetector where it has one for QR codes (Android Chrome), else with the vendored jsQR
   (/static/vendor/jsqr/jsQR.js, loaded on first use). What is read (the verification URL the label's QR
   carries, or a bare code) goes into the code field and the form is sent: the server reads the code, so the
   camera, a handheld scanner and typing all follow one rule.

   window.EnvwatchScan.read(canvas) exposes the decoding of one picture (the browser tests feed it a QR
   image). Same-origin file: the CSP forbids inline scripts; the texts come translated in #scan-texts. */
(function () {
  "use strict";
  var FRAME_MS = 150;
  var MAX_WIDTH = 640;  // frames are scaled down: QR codes on labels are large, and phones are slow
  var decoder = null;

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      if (window.jsQR) { resolve(); return; }
      var script = document.createElement("script");
      script.src = src;
      script.onload = function () { resolve(); };
      script.onerror = function () { reject(new Error("cannot load " + src)); };
      document.head.appendChild(script);
    });
  }

  function nativeDecoder() {
    if (!("BarcodeDetector" in window)) { return Promise.resolve(null); }
    var formats = window.BarcodeDetector.getSupportedFormats
      ? window.BarcodeDetector.getSupportedFormats() : Promise.resolve(["qr_code"]);
    return formats.then(function (list) {
      if (list.indexOf("qr_code") < 0) { return null; }
      var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      return {
        name: "BarcodeDetector",
        read: function (canvas) {
          return detector.detect(canvas).then(function (codes) { return codes.length ? codes[0].rawValue : null; });
        }
      };
    }).catch(function () { return null; });
  }

  function jsqrDecoder(src) {
    return loadScript(src).then(function () {
      return {
        name: "jsQR",
        read: function (canvas) {
          var context = canvas.getContext("2d", { willReadFrequently: true });
          var image = context.getImageData(0, 0, canvas.width, canvas.height);
          var hit = window.jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
          return Promise.resolve(hit ? hit.data : null);
        }
      };
    });
  }

  function decoderOf(src) {
    if (!decoder) {
      decoder = nativeDecoder().then(function (found) { return found || jsqrDecoder(src); });
      decoder.catch(function () { decoder = null; });  // a failed load may be retried
    }
    return decoder;
  }

  function start() {
    var box = document.getElementById("camera");
    var form = document.getElementById("scan-form");
    var textBlock = document.getElementById("scan-texts");
    if (!box || !form || !textBlock) { return; }
    var texts = JSON.parse(textBlock.textContent);
    var input = document.getElementById("code");
    var button = document.getElementById("camera-button");
    var stopButton = document.getElementById("camera-stop");
    var view = document.getElementById("camera-view");
    var video = document.getElementById("camera-video");
    var status = document.getElementById("camera-status");
    var canvas = document.createElement("canvas");
    var stream = null;
    var timer = null;
    var done = false;

    function say(text) { status.textContent = text; }

    function stop() {
      if (timer !== null) { window.clearTimeout(timer); timer = null; }
      if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
      video.srcObject = null;
      view.hidden = true;
      stopButton.hidden = true;
      button.hidden = false;
    }

    function found(text) {
      if (done) { return; }
      done = true;
      stop();
      input.value = text;
      say(texts.found.replace("{code}", text));
      if (typeof form.requestSubmit === "function") { form.requestSubmit(); } else { form.submit(); }
    }

    function read(source) {
      return decoderOf(box.dataset.jsqr).then(function (d) {
        return d.read(source).then(function (text) { return { decoder: d.name, text: text }; });
      });
    }

    function tick(d) {
      if (!stream || done) { return; }
      if (video.readyState >= 2 && video.videoWidth) {
        var scale = Math.min(1, MAX_WIDTH / video.videoWidth);
        canvas.width = Math.round(video.videoWidth * scale);
        canvas.height = Math.round(video.videoHeight * scale);
        canvas.getContext("2d", { willReadFrequently: true }).drawImage(video, 0, 0, canvas.width, canvas.height);
        d.read(canvas).then(function (text) {
          if (text) { found(text); } else { timer = window.setTimeout(function () { tick(d); }, FRAME_MS); }
        }, function () { timer = window.setTimeout(function () { tick(d); }, FRAME_MS); });
        return;
      }
      timer = window.setTimeout(function () { tick(d); }, FRAME_MS);
    }

    function open() {
      var stage = "camera";  // which part failed decides the message
      done = false;
      button.hidden = true;
      say(texts.starting);
      navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: "environment" } }, audio: false })
        .then(function (s) {
          stream = s;
          video.srcObject = s;
          view.hidden = false;
          stopButton.hidden = false;
          return video.play();
        })
        .then(function () {
          stage = "decoder";
          return decoderOf(box.dataset.jsqr);
        })
        .then(function (d) {
          say(texts.looking);
          tick(d);
        }, function () {
          stop();
          say(stage === "camera" ? texts.denied : texts.decoder);
        });
    }

    window.EnvwatchScan = { read: read, found: found };
    if (!navigator.mediaDevices || typeof navigator.mediaDevices.getUserMedia !== "function") {
      say(texts.no_camera);
      return;
    }
    button.hidden = false;
    button.addEventListener("click", open);
    stopButton.addEventListener("click", function () { stop(); say(""); });
    window.addEventListener("pagehide", stop);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
