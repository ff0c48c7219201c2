/* Draw the report's charts. plotly.js and the figures may be embedded gzip-compressed and
   base64-encoded (data-encoding="gzip+base64"): they are inflated here with the browser's
   own DecompressionStream, so the file stays small and works offline. */
(function () {
  "use strict";
  function navHeight() {
    var nav = document.getElementById("cf-nav");
    if (nav) document.documentElement.style.setProperty("--nav-h", nav.offsetHeight + "px");
  }
  navHeight();
  window.addEventListener("resize", navHeight);
  async function text(id) {
    var el = document.getElementById(id);
    if (!el) return null;
    var t = el.textContent.trim();
    if (el.dataset.encoding !== "gzip+base64") return t;
    var bin = atob(t), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return await new Response(stream).text();
  }
  async function draw() {
    if (!window.Plotly) {
      var js = await text("cf-plotly");
      var s = document.createElement("script");
      s.textContent = js;
      document.head.appendChild(s);
    }
    var cfg = JSON.parse(document.getElementById("cf-plotly-config").textContent);
    var figs = JSON.parse(await text("cf-figures") || "{}");
    for (var id in figs) {
      var el = document.getElementById(id);
      if (el) await Plotly.newPlot(el, figs[id].data, figs[id].layout || {}, cfg);
    }
    document.documentElement.dataset.charts = "ready";
    navHeight();
    if (location.hash) {
      var target = document.getElementById(location.hash.slice(1));
      if (target) target.scrollIntoView();
    }
  }
  draw().catch(function (e) {
    document.documentElement.dataset.charts = "failed";
    console.error("computefolio report: charts could not be drawn: " + e);
  });
})();
