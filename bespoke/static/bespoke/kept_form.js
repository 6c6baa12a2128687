// Back on a form after confirming it is them (a step-up), the person finds it as they had
// filled it in: the page carries what they entered (#kept-form, from the step_up_form tag)
// and this puts it back into the form it was posted from. Hidden fields and files stay as
// the page drew them.
(function () {
  "use strict";
  var SKIPPED = ["hidden", "file", "password", "submit", "button", "reset", "image"];

  function restore() {
    var data = document.getElementById("kept-form");
    if (!data) return;
    var kept = JSON.parse(data.textContent);
    Array.prototype.forEach.call(document.forms, function (form) {
      if (new URL(form.action, window.location.href).pathname !== kept.action) return;
      Array.prototype.forEach.call(form.elements, function (field) {
        if (!field.name || SKIPPED.indexOf(field.type) !== -1 || field.tagName === "BUTTON") return;
        var values = kept.fields[field.name] || [];
        if (field.type === "checkbox") {
          field.checked = values.indexOf(field.value) !== -1;
        } else if (!(field.name in kept.fields)) {
          return;
        } else if (field.type === "radio") {
          field.checked = values.indexOf(field.value) !== -1;
        } else if (field.multiple) {
          Array.prototype.forEach.call(field.options, function (option) {
            option.selected = values.indexOf(option.value) !== -1;
          });
        } else {
          field.value = values[0];
        }
      });
    });
    var notice = document.getElementById("kept-form-notice");
    if (notice) notice.textContent = notice.dataset.restored;
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", restore);
  } else {
    restore();
  }
})();
