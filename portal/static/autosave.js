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
  var waiting = null;  /* a submit made while an autosave was under way: {submitter} */

  /* A save, preview or submit while an autosave is on its way waits for it:
     the first autosave of a new item creates the draft, and a form still
     aimed at "new" would create a second one. Once the form is sent, no
     autosave follows it (it would race the save it just made). */
  form.addEventListener("submit", function (event) {
    if (busy) {
      event.preventDefault();
      waiting = { submitter: event.submitter || null };
      return;
    }
    stopped = true;
  });

  function release() {
    busy = false;
    if (waiting === null) { return; }
    var submitter = waiting.submitter;
    waiting = null;
    if (form.requestSubmit) {
      form.requestSubmit(submitter || undefined);
    } else {
      stopped = true;
      form.submit();
    }
  }

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
      release();
    }).catch(function () {
      say(msg("offline", "Automatisch opslaan lukte niet (geen verbinding?). Uw tekst staat nog in het formulier."));
      release();
    });
  }
  window.setInterval(tick, interval > 0 ? interval : 30000);
}());
