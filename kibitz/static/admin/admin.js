/* Kibitz desk: keyboard shortcuts (j/k/a/r/s/x/?), bulk selection, focus kept across in-place
   updates, and new held comments added to an open queue (polled every 5 s, announced politely).
   Everything here is an enhancement: every action is a plain form that works without it. */
(function () {
  "use strict";

  var POLL_MS = 5000;
  var announce = function (text) {
    var region = document.getElementById("announce");
    if (!region) return;
    region.textContent = "";
    // A fresh text node after clearing makes screen readers read repeated messages again.
    window.setTimeout(function () { region.textContent = text; }, 50);
  };

  var items = function () { return Array.prototype.slice.call(document.querySelectorAll("[data-item]")); };

  var currentItem = function () {
    var el = document.activeElement;
    return el && el.closest ? el.closest("[data-item]") : null;
  };

  var typing = function (el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  };

  var focusItem = function (item) {
    if (!item) return;
    item.focus();
    item.scrollIntoView({ block: "nearest" });
  };

  var move = function (step) {
    var all = items();
    if (!all.length) return;
    var at = all.indexOf(currentItem());
    var next = at < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, at + step));
    focusItem(all[next]);
  };

  var press = function (key) {
    var item = currentItem();
    if (!item) { announce("Move to a comment first, with j or k."); return; }
    var button = item.querySelector("form.actions button[data-key='" + key + "']");
    if (!button) { announce("That action does not apply to this comment."); return; }
    button.click();
  };

  var toggle = function () {
    var item = currentItem();
    var box = item && item.querySelector("[data-select]");
    if (!box) return;
    box.checked = !box.checked;
    announce(box.checked ? "Selected." : "Not selected.");
  };

  var openHelp = function () {
    var dialog = document.getElementById("help");
    if (dialog && !dialog.open && dialog.showModal) dialog.showModal();
  };

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) return;
    var dialog = document.getElementById("help");
    if (dialog && dialog.open) return;
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "a": press("a"); break;
      case "r": press("r"); break;
      case "s": press("s"); break;
      case "x": toggle(); break;
      case "?": openHelp(); break;
      default: return;
    }
    event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target.closest && target.closest("[data-help-open]")) openHelp();
  });

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches && target.matches("[data-select-all]")) {
      items().forEach(function (item) {
        var box = item.querySelector("[data-select]");
        if (box) box.checked = target.checked;
      });
    }
  });

  // An item redrawn in place takes the place of the one that had the focus: keep the focus on it.
  var keep = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var item = currentItem();
    keep = item ? item.id : null;
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (!keep) return;
    var again = document.getElementById(keep);
    keep = null;
    // Only when the focus was lost with the old item: never take it back from where it went since.
    var lost = !document.activeElement || document.activeElement === document.body;
    if (again && lost) again.focus({ preventScroll: true });
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail && event.detail.elt;
    if (event.detail.successful && form && form.id === "bulk") {
      var all = form.querySelector("[data-select-all]");
      if (all) all.checked = false;
      items().forEach(function (item) {
        var box = item.querySelector("[data-select]");
        if (box) box.checked = false;
      });
    }
  });
  document.addEventListener("htmx:sendError", function () {
    announce("The server could not be reached; nothing was changed.");
  });

  // Live arrivals on an open pending (or reported) queue.
  var list = document.querySelector("[data-live]");
  if (!list || !window.fetch) return;
  var newest = function () {
    return items().reduce(function (max, item) {
      var id = parseInt(item.getAttribute("data-comment-id"), 10);
      return id > max ? id : max;
    }, 0);
  };
  var busy = false;
  var poll = function () {
    if (busy || document.hidden) return;
    busy = true;
    var url = list.getAttribute("data-live") + "&after=" + newest();
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (response.status !== 200) return null;
        return response.text();
      })
      .then(function (html) {
        if (!html) return;
        var template = document.createElement("template");
        template.innerHTML = html;
        var fresh = Array.prototype.slice.call(template.content.querySelectorAll("[data-item]"));
        fresh = fresh.filter(function (item) { return !document.getElementById(item.id); });
        var empty = list.querySelector("[data-empty]");
        if (empty && fresh.length) empty.remove();
        for (var i = fresh.length - 1; i >= 0; i--) {
          fresh[i].classList.add("fresh");
          list.insertBefore(fresh[i], list.firstChild);
          if (window.htmx) window.htmx.process(fresh[i]);
        }
        var tabs = template.content.getElementById("tabs");
        var old = document.getElementById("tabs");
        if (tabs && old) old.replaceWith(tabs);
        if (fresh.length) {
          announce(fresh.length === 1 ? "1 new comment in the queue." : fresh.length + " new comments in the queue.");
        }
      })
      .catch(function () { /* the next round tries again */ })
      .then(function () { busy = false; });
  };
  window.setInterval(poll, POLL_MS);
})();
