/* The regional overview's map (区域总览): outlets as markers coloured by status, drawn with the vendored
   Leaflet. Same-origin file (the Content-Security-Policy forbids inline scripts); its settings and texts
   come from the page's JSON block #region-map-config, the outlets from /region/outlets.json. Without a
   configured basemap there is no tile layer: the outlets sit on a plain latitude/longitude grid. */
(function () {
  "use strict";
  var CHINA = [35, 105];

  function niceStep(span) {
    var steps = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20];
    for (var i = 0; i < steps.length; i++) {
      if (span / steps[i] <= 8) { return steps[i]; }
    }
    return 30;
  }

  function graticule(map, layer) {
    // a latitude/longitude grid in place of a basemap, redrawn for the visible part of the map
    layer.clearLayers();
    var b = map.getBounds();
    var south = Math.max(b.getSouth(), -85), north = Math.min(b.getNorth(), 85);
    var west = b.getWest(), east = b.getEast();
    var step = niceStep(Math.max(north - south, east - west));
    var opts = { className: "region-graticule", interactive: false, weight: 1 };
    for (var lat = Math.ceil(south / step) * step; lat <= north; lat += step) {
      layer.addLayer(L.polyline([[lat, west], [lat, east]], opts));
    }
    for (var lon = Math.ceil(west / step) * step; lon <= east; lon += step) {
      layer.addLayer(L.polyline([[south, lon], [north, lon]], opts));
    }
  }

  function popup(outlet, labels) {
    // built from elements, never from HTML strings: names come from the registry
    var box = document.createElement("div");
    var title = document.createElement("strong");
    title.textContent = outlet.enterprise + " · " + outlet.name;
    var state = document.createElement("p");
    state.textContent = labels[outlet.status] || outlet.status;
    var link = document.createElement("a");
    link.href = outlet.url;
    link.textContent = labels.open;
    box.appendChild(title);
    box.appendChild(state);
    box.appendChild(link);
    return box;
  }

  function addMarkers(map, outlets, labels) {
    var placed = [];
    outlets.forEach(function (o) {
      if (o.lat === null || o.lon === null) { return; }
      var icon = L.divIcon({ className: "region-marker status-" + o.status, iconSize: [18, 18] });
      var text = o.enterprise + " · " + o.name + " · " + (labels[o.status] || o.status);
      L.marker([o.lat, o.lon], { icon: icon, title: text, alt: text, keyboard: true, riseOnHover: true })
        .bindPopup(popup(o, labels))
        .addTo(map);
      placed.push([o.lat, o.lon]);
    });
    return placed;
  }

  function draw() {
    var holder = document.getElementById("region-map");
    var block = document.getElementById("region-map-config");
    if (!holder || !block || typeof L === "undefined") { return; }
    var config = JSON.parse(block.textContent);
    var map = L.map(holder, { attributionControl: Boolean(config.tiles), zoomSnap: 0.5 });
    holder.setAttribute("aria-label", config.labels.map);
    map.setView(CHINA, 4);
    var grid = null;
    if (config.tiles) {
      map.attributionControl.setPrefix(false);
      L.tileLayer(config.tiles, { attribution: config.attribution, maxZoom: 18 }).addTo(map);
    } else {
      grid = L.layerGroup().addTo(map);
      map.on("moveend", function () { graticule(map, grid); });
    }
    if (config.boundaries) {
      fetch(config.boundaries, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (data) {
            L.geoJSON(data, { interactive: false, style: { className: "region-boundary", weight: 1 } }).addTo(map);
          }
        });
    }
    fetch(config.outlets, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        var placed = addMarkers(map, data.outlets, config.labels);
        if (placed.length === 1) {
          map.setView(placed[0], 12);
        } else if (placed.length > 1) {
          map.fitBounds(placed, { padding: [24, 24], maxZoom: 14 });
        }
        if (grid) { graticule(map, grid); }
        holder.dataset.markers = String(placed.length);
      });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
