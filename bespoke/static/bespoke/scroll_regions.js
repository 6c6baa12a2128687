// A table wider than a narrow screen scrolls inside its own box (see base.html's CSS); such a
// box takes keyboard focus, so it can be scrolled without a mouse, and leaves the tab order
// again when the window is wide enough to show it whole.
(function () {
  function mark() {
    document.querySelectorAll("table").forEach(function (table) {
      if (table.scrollWidth > table.clientWidth + 1) {
        table.tabIndex = 0;
      } else if (table.hasAttribute("tabindex")) {
        table.removeAttribute("tabindex");
      }
    });
  }
  document.addEventListener("DOMContentLoaded", mark);
  document.addEventListener("htmx:afterSettle", mark);
  window.addEventListener("resize", mark);
})();
