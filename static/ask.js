// The waiting page of a visitor's own prompt: poll its small JSON status instead of
// reloading the whole page, and open the page again (which becomes the battle) when the
// answers are ready. Without JavaScript the page reloads itself (<noscript> meta refresh).
(function () {
  "use strict";
  var box = document.querySelector("[data-status-url]");
  if (!box || !window.fetch) {
    return;
  }
  var seconds = Math.max(1, parseInt(box.getAttribute("data-refresh"), 10) || 3);
  var failures = 0;

  function set(field, value) {
    var node = box.querySelector('[data-field="' + field + '"]');
    if (node) {
      node.textContent = String(value);
    }
  }

  function poll() {
    fetch(box.getAttribute("data-status-url"), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        failures = 0;
        if (data.state !== box.getAttribute("data-state") || data.state === "done") {
          // queued -> running -> done: the page itself changes (and becomes the battle).
          window.location.assign(box.getAttribute("data-page-url"));
          return;
        }
        set("position", data.position);
        set("ahead", data.ahead);
        set("answer", Math.min(data.answers_done + 1, data.answers_total));
        set("tokens", data.tokens);
        set("waited", Math.round(data.waited_seconds));
        var bar = box.querySelector('[data-field="progress"]');
        if (bar) {
          bar.value = data.answers_done;
        }
        window.setTimeout(poll, seconds * 1000);
      })
      .catch(function () {
        failures += 1;
        if (failures >= 3) {
          window.location.reload();
          return;
        }
        window.setTimeout(poll, seconds * 1000);
      });
  }

  window.setTimeout(poll, seconds * 1000);
})();
