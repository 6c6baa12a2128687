// The player polls while a scene renders and reloads the page when something changes, so a
// scene appears only once it is published (labelled, watermarked, signed): the page never
// shows a frame before that.
(function () {
  "use strict";
  // A choice is taken once: its buttons are disabled as the form is sent (the server also
  // answers a repeated choice with the scene it chose, so a second click changes nothing).
  Array.prototype.forEach.call(document.querySelectorAll("form[data-once]"), function (form) {
    form.addEventListener("submit", function () {
      Array.prototype.forEach.call(document.querySelectorAll("form[data-once] button"), function (button) {
        window.setTimeout(function () { button.disabled = true; }, 0);
      });
    });
  });
  var player = document.getElementById("player");
  if (!player) { return; }
  var url = player.getAttribute("data-state-url");
  // The signature the page was drawn with, not the first one polled: a scene published between
  // the page's drawing and its first poll must still bring the reload.
  var shown = player.getAttribute("data-signature");
  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (state) {
        if (!state) { window.setTimeout(poll, 3000); return; }
        if (state.signature !== shown) { window.location.reload(); return; }
        var waiting = state.path.some(function (s) { return s.state === "queued" || s.state === "rendering"; });
        if (waiting || state.status === "playing") { window.setTimeout(poll, 1000); }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  poll();
})();
