// The battle page, improved when scripts run (the vote itself is a plain form):
// - keyboard shortcuts: every element with data-key="x" is clicked by the key X
//   (A, B, T, X vote; N next battle; R another prompt), never while typing in a field;
// - one vote per page: a second submit is ignored and the form says the vote is on its way;
// - a Copy button on every code block of the prompt and the answers.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  var live = document.createElement("p");
  live.className = "visually-hidden";
  live.setAttribute("role", "status");
  live.setAttribute("aria-live", "polite");
  document.body.appendChild(live);

  function announce(text) {
    live.textContent = "";
    window.setTimeout(function () {
      live.textContent = text;
    }, 50);
  }

  // -- keyboard shortcuts ------------------------------------------------------------------
  var shortcuts = {};
  document.querySelectorAll("[data-key]").forEach(function (element) {
    var key = element.getAttribute("data-key").toLowerCase();
    shortcuts[key] = element;
    element.setAttribute("aria-keyshortcuts", key.toUpperCase());
  });

  function typing(target) {
    return !!(
      target &&
      target.closest &&
      target.closest("input, textarea, select, [contenteditable]:not([contenteditable='false'])")
    );
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.repeat || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (typing(event.target) || !event.key || event.key.length !== 1) {
      return;
    }
    var element = shortcuts[event.key.toLowerCase()];
    if (!element || element.disabled || !element.isConnected) {
      return;
    }
    event.preventDefault();
    element.focus();
    element.click();
  });

  // -- the vote ----------------------------------------------------------------------------
  var form = document.querySelector("form.vote");
  if (form) {
    form.addEventListener("submit", function (event) {
      if (form.classList.contains("sending")) {
        event.preventDefault(); // one vote per battle: a second click or key does nothing
        return;
      }
      form.classList.add("sending");
      form.setAttribute("aria-busy", "true");
      if (event.submitter) {
        event.submitter.classList.add("chosen");
      }
      var status = form.querySelector("[data-vote-status]");
      if (status) {
        status.textContent = "Recording your vote…";
      }
    });
    // Back/forward cache: a page shown again is a fresh form.
    window.addEventListener("pageshow", function (event) {
      if (event.persisted) {
        form.classList.remove("sending");
        form.removeAttribute("aria-busy");
      }
    });
  }

  // -- copy buttons on code blocks ---------------------------------------------------------
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "visually-hidden";
      document.body.appendChild(area);
      area.select();
      var done = false;
      try {
        done = document.execCommand("copy");
      } catch (error) {
        done = false;
      }
      document.body.removeChild(area);
      if (done) {
        resolve();
      } else {
        reject(new Error("copy refused"));
      }
    });
  }

  document.querySelectorAll(".markdown pre").forEach(function (pre, index) {
    var code = pre.querySelector("code") || pre;
    var block = document.createElement("div");
    block.className = "code-block";
    pre.parentNode.insertBefore(block, pre);
    block.appendChild(pre);
    var button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy code block " + (index + 1));
    var reset = null;
    button.addEventListener("click", function () {
      copyText(code.textContent).then(
        function () {
          button.textContent = "Copied";
          announce("Code copied to the clipboard.");
        },
        function () {
          button.textContent = "Select and copy";
          var range = document.createRange();
          range.selectNodeContents(code);
          var selection = window.getSelection();
          selection.removeAllRanges();
          selection.addRange(range);
          announce("Copying is not allowed here; the code is selected instead.");
        }
      );
      window.clearTimeout(reset);
      reset = window.setTimeout(function () {
        button.textContent = "Copy";
      }, 2000);
    });
    block.appendChild(button);
    var language = /(?:^|\s)language-([\w+#.-]{1,30})/.exec(code.className || "");
    if (language) {
      var label = document.createElement("span");
      label.className = "lang";
      label.textContent = language[1];
      block.appendChild(label);
    }
  });
})();
