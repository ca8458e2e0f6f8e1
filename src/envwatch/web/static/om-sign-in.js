/* GPS sign-in of the field-record form (/om/records/new): the "Sign in here" button asks the browser for
   its position and writes it into the form's hidden latitude and longitude fields (WGS-84, 6 decimals,
   about 0.1 m). Same-origin file: the CSP forbids inline scripts. The texts come translated from the
   button's data-* attributes. Without a position nothing is filled in and the server records the sign-in
   as "unknown": the form never depends on this script. */
(function () {
  "use strict";
  function start() {
    var button = document.getElementById("sign-in-button");
    var status = document.getElementById("sign-in-status");
    var lat = document.getElementById("n-latitude");
    var lon = document.getElementById("n-longitude");
    if (!button || !status || !lat || !lon) { return; }
    function say(text) { status.textContent = text; }
    if (!("geolocation" in navigator)) {
      button.disabled = true;
      say(button.dataset.unsupported);
      return;
    }
    button.addEventListener("click", function () {
      button.disabled = true;
      say(button.dataset.waiting);
      navigator.geolocation.getCurrentPosition(
        function (pos) {
          lat.value = pos.coords.latitude.toFixed(6);
          lon.value = pos.coords.longitude.toFixed(6);
          say(button.dataset.taken
            .replace("{lat}", lat.value)
            .replace("{lon}", lon.value)
            .replace("{acc}", String(Math.round(pos.coords.accuracy))));
          button.disabled = false;
        },
        function () {
          lat.value = "";
          lon.value = "";
          say(button.dataset.failed);
          button.disabled = false;
        },
        { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 }
      );
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
