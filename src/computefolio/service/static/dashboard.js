/* computefolio dashboard: draws the page's Plotly figures (JSON in data-figures attributes,
   also in fragments swapped in by htmx), follows a run's progress by server-sent events, asks
   before irreversible actions and marks busy forms. Served by the app itself; no inline
   script anywhere (CSP default-src 'self'). */
(function () {
  "use strict";
  var CONFIG = {responsive: true, displaylogo: false, displayModeBar: "hover", showLink: false, showSendToCloud: false,
                showEditInChartStudio: false, modeBarButtonsToRemove: ["sendDataToCloud", "select2d", "lasso2d"]};

  function draw(root) {
    var blocks = (root || document).querySelectorAll("div.cf-figures");
    var jobs = [];
    blocks.forEach(function (b) {
      var figs = {};
      try { figs = JSON.parse(b.dataset.figures || "{}"); } catch (e) { console.error("computefolio: bad figure data", e); }
      Object.keys(figs).forEach(function (id) {
        var el = document.getElementById(id);
        if (!el || el.dataset.drawn) return;
        if (!window.Plotly) { document.documentElement.dataset.charts = "failed"; return; }
        el.dataset.drawn = "1";
        jobs.push(window.Plotly.newPlot(el, figs[id].data, figs[id].layout || {}, CONFIG));
      });
    });
    if (!jobs.length) {
      if (!document.documentElement.dataset.charts) document.documentElement.dataset.charts = "none";
      return;
    }
    Promise.all(jobs).then(function () {
      document.documentElement.dataset.charts = "ready";
    }, function (e) {
      document.documentElement.dataset.charts = "failed";
      console.error("computefolio: charts could not be drawn", e);
    });
  }

  function confirmForms(root) {
    (root || document).querySelectorAll("form[data-confirm]").forEach(function (f) {
      if (f.dataset.bound) return;
      f.dataset.bound = "1";
      f.addEventListener("submit", function (ev) {
        if (!window.confirm(f.dataset.confirm)) ev.preventDefault();
      });
    });
    (root || document).querySelectorAll("form[data-busy]").forEach(function (f) {
      if (f.dataset.boundBusy) return;
      f.dataset.boundBusy = "1";
      f.addEventListener("submit", function () {
        var b = f.querySelector("button[type=submit]");
        if (b) { b.disabled = true; b.textContent = f.dataset.busy; }
      });
    });
  }

  function text(id, value) {
    var el = document.getElementById(id);
    if (el) el.textContent = value;
  }

  function follow() {
    var box = document.getElementById("run-progress");
    if (!box || !window.EventSource) return;
    if (["done", "failed", "cancelled", "interrupted"].indexOf(box.dataset.status) >= 0) return;
    var src = new EventSource(box.dataset.events);  // same origin: the session cookie goes along
    function step(d) {
      text("run-step", d.step);
      text("run-step-name", d.name);
      var bar = document.getElementById("run-bar");
      if (bar) { bar.max = d.steps; bar.value = d.state === "done" ? d.step : d.step - 0.5; }
      var list = document.getElementById("run-steps");
      if (!list) return;
      var items = Array.prototype.slice.call(list.querySelectorAll("li"));
      var cur = items.filter(function (li) { return li.dataset.name === d.name; })[0];
      if (!cur) {  // a step this page did not list (a private sleeve): insert it in its place
        cur = document.createElement("li");
        cur.dataset.name = d.name;
        cur.textContent = d.name;
        var before = items.filter(function (li) { return !li.classList.contains("done"); })[0] || null;
        list.insertBefore(cur, before);
        items = Array.prototype.slice.call(list.querySelectorAll("li"));
      }
      var k = items.indexOf(cur);
      items.forEach(function (li, i) {
        li.className = i < k || (i === k && d.state === "done") ? "done" : (i === k ? "now" : "");
      });
    }
    src.addEventListener("step", function (e) { step(JSON.parse(e.data)); });
    src.addEventListener("fit", function (e) {
      var d = JSON.parse(e.data);
      text("run-fits", "(" + d.name + " " + d.done + "/" + d.total + ")");
    });
    src.addEventListener("status", function (e) {
      var d = JSON.parse(e.data);
      var s = document.getElementById("run-status");
      if (s) { s.textContent = d.status; s.className = "status-" + d.status; }
      box.dataset.status = d.status;
      if (d.error) { var er = document.getElementById("run-error"); if (er) { er.textContent = d.error; er.classList.remove("hidden"); } }
    });
    src.addEventListener("end", function (e) {
      src.close();
      var d = JSON.parse(e.data);
      box.dataset.status = d.status;
      text("run-status", d.status);
      if (d.status === "done") {
        var bar = document.getElementById("run-bar");
        if (bar) bar.value = bar.max;
        document.querySelectorAll("#run-steps li").forEach(function (li) { li.className = "done"; });
        var links = document.getElementById("run-links");
        if (links) links.classList.remove("hidden");
      }
      document.documentElement.dataset.run = d.status;
    });
    src.onerror = function () { if (box.dataset.status !== "running" && box.dataset.status !== "queued") src.close(); };
  }

  document.addEventListener("DOMContentLoaded", function () {
    draw(document);
    confirmForms(document);
    follow();
    document.documentElement.dataset.ready = "1";
  });
  document.addEventListener("htmx:afterSwap", function (e) {
    draw(e.detail && e.detail.target ? e.detail.target : document);
    confirmForms(e.detail && e.detail.target ? e.detail.target : document);
  });
})();
