/* Kibitz desk: a campaign's figures kept current while it is sent (or waits for its time), by asking
   the page's progress URL every 2 s; the actions its new status no longer allows are hidden. Without
   this script the page shows the figures as they were when it loaded, and a Refresh link. */
(function () {
  "use strict";

  var POLL_MS = 2000;
  var box = document.querySelector("[data-progress-url]");
  if (!box || !window.fetch) return;
  var url = box.getAttribute("data-progress-url");
  var bar = document.getElementById("campaign-progress");
  var note = document.getElementById("live-note");
  var status = null;
  var timer = null;

  var show = function (name, value) {
    document.querySelectorAll("[data-figure='" + name + "']").forEach(function (el) {
      el.textContent = String(value);
    });
  };

  var draw = function (data) {
    ["sent", "total", "percent", "failed", "bounced", "unsubscribed", "status_text"].forEach(function (name) {
      show(name, data[name]);
    });
    if (bar) {
      bar.max = Math.max(1, data.total);
      bar.value = data.done;
      bar.textContent = data.percent + " %";
    }
    var queueing = document.querySelector("[data-queueing]");
    if (queueing) queueing.hidden = !data.queueing;
    document.querySelectorAll("[data-status-class]").forEach(function (el) {
      el.className = "badge status-" + data.status;
    });
    document.querySelectorAll("[data-for]").forEach(function (el) {
      el.hidden = el.getAttribute("data-for").split(" ").indexOf(data.status) < 0;
    });
    if (status !== null && data.status !== status && note) {
      note.textContent = "The campaign is now " + data.status_text.toLowerCase() + ".";
    }
    status = data.status;
    if (data.status !== "sending" && data.status !== "scheduled" && timer !== null) {
      window.clearInterval(timer);
      timer = null;
    }
  };

  var busy = false;
  var poll = function () {
    if (busy) return;
    busy = true;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.status === 200 ? response.json() : null; })
      .then(function (data) { if (data) draw(data); })
      .catch(function () { /* the next round tries again */ })
      .then(function () { busy = false; });
  };
  timer = window.setInterval(poll, POLL_MS);
})();
