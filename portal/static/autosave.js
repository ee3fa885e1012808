/* The editor's autosave (issue #4): every 30 seconds, when the form changed,
   post it to the server (never to the browser's storage). A new item becomes
   a draft at its first autosave; the form then edits that draft. */
(function () {
  "use strict";
  var form = document.querySelector("form[data-autosave-url]");
  if (!form || !window.fetch || !window.FormData) { return; }
  var status = document.getElementById("autosave-status");
  var interval = parseInt(form.getAttribute("data-autosave-interval") || "30000", 10);
  var busy = false;
  var stopped = false;

  function snapshot() {
    var parts = [];
    new FormData(form).forEach(function (value, key) {
      if (key !== "csrf_token" && key !== "version" && key !== "action") { parts.push(key + "=" + value); }
    });
    return parts.join("&");
  }
  var last = snapshot();

  function say(text) { if (status) { status.textContent = text; } }
  /* Texts in the interface language, from the form's data-msg-* attributes (issue #8). */
  function msg(name, fallback) { return form.getAttribute("data-msg-" + name) || fallback; }

  function setVersion(version) {
    var input = form.querySelector("input[name=version]");
    if (!input) {
      input = document.createElement("input");
      input.type = "hidden";
      input.name = "version";
      form.appendChild(input);
    }
    input.value = String(version);
  }

  function tick() {
    if (busy || stopped) { return; }
    var now = snapshot();
    if (now === last) { return; }
    busy = true;
    var data = new FormData(form);
    data.set("action", "autosave");
    fetch(form.getAttribute("data-autosave-url"), {
      method: "POST", body: data, credentials: "same-origin", redirect: "manual",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      return response.json().then(function (body) { return { status: response.status, body: body }; },
                                  function () { return { status: response.status, body: null }; });
    }).then(function (result) {
      busy = false;
      if (result.body && result.body.ok) {
        last = now;
        setVersion(result.body.version);
        form.setAttribute("action", result.body.edit_url);
        form.setAttribute("data-autosave-url", result.body.autosave_url);
        say(msg("saved", "Automatisch opgeslagen om %(time)s.").replace("%(time)s", result.body.saved_at));
      } else if (result.status === 409) {
        stopped = true;
        say(result.body.error);
      } else if (result.body && result.body.error) {
        say(result.body.error);
      } else {
        say(msg("failed", "Automatisch opslaan lukte niet (bent u nog ingelogd?). Uw tekst staat nog in het formulier; sla zelf op."));
      }
    }).catch(function () {
      busy = false;
      say(msg("offline", "Automatisch opslaan lukte niet (geen verbinding?). Uw tekst staat nog in het formulier."));
    });
  }
  window.setInterval(tick, interval > 0 ? interval : 30000);
}());
