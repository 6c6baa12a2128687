// A form that posts is sent once: while it is being sent its buttons are disabled and the form
// is marked busy, and a second submit is ignored. The server checks the form's submission
// token as well (core.submit_once), so this is for the person, not the guarantee.
(function () {
  "use strict";
  // A page that is not left (a download) lets the form be used again after this long.
  var RELEASE_AFTER_MS = 8000;

  // Its elements include the buttons outside it that name it with form="...".
  function buttons(form) {
    return Array.prototype.filter.call(form.elements, function (element) {
      return element.type === "submit" || element.type === "image";
    });
  }

  function release(form) {
    form.removeAttribute("aria-busy");
    buttons(form).forEach(function (button) {
      if (button.hasAttribute("data-submit-once-disabled")) {
        button.disabled = false;
        button.removeAttribute("data-submit-once-disabled");
      }
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    // The attribute, not the property: a control named "method" would hide the form's own.
    if (!(form instanceof HTMLFormElement) || (form.getAttribute("method") || "").toLowerCase() !== "post") { return; }
    if (form.getAttribute("aria-busy") === "true") { event.preventDefault(); return; }
    if (event.defaultPrevented) { return; }
    form.setAttribute("aria-busy", "true");
    // Disabled only after this event: the browser has then already taken the clicked
    // button's name and value (approve or decline) into what it sends.
    window.setTimeout(function () {
      buttons(form).forEach(function (button) {
        if (!button.disabled) {
          button.disabled = true;
          button.setAttribute("data-submit-once-disabled", "");
        }
      });
    }, 0);
    window.setTimeout(function () { release(form); }, RELEASE_AFTER_MS);
  });

  // Coming back to the page with the browser's Back button shows it as it was left.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) { Array.prototype.forEach.call(document.forms, release); }
  });
})();
