// Compiles the Ink source of the new-story form in the browser, with the vendored inkjs
// (window.inkjs, loaded before this file), exactly as tests/stories/fixtures/compile.js does
// in node: countAllVisits on, no INCLUDE of other files. On success the compiled JSON goes into
// the hidden `compiled_json` field and the form may be submitted; on failure the compiler's
// errors are listed beside the source, each naming its line (click one to go to it).
// Without JavaScript none of this runs: the author uploads the JSON that Inky exports.
(function () {
  "use strict";
  var form = document.getElementById("story-form");
  if (!form || !window.inkjs) return;
  var source = form.elements["ink_source"];
  var compiled = form.elements["compiled_json"];
  var upload = form.elements["compiled_file"];
  var submit = document.getElementById("story-submit");
  var button = document.getElementById("compile-button");
  var status = document.getElementById("compile-status");
  var problems = document.getElementById("source-problems");
  var LINE = /^(ERROR|WARNING|TODO|RUNTIME ERROR|RUNTIME WARNING)?:?\s*(?:'[^']*'\s*)?line (\d+):\s*(.*)$/;

  function parse(message, severity) {
    var match = LINE.exec(String(message).trim());
    if (!match) return { line: null, text: String(message).replace(/^ERROR:\s*/, ""), severity: severity };
    return { line: parseInt(match[2], 10), text: "line " + match[2] + ": " + match[3], severity: severity };
  }

  function show(items, heading) {
    problems.textContent = "";
    if (!items.length) return;
    var title = document.createElement("h2");
    title.textContent = heading;
    var list = document.createElement("ul");
    list.className = "problems";
    items.forEach(function (item) {
      var li = document.createElement("li");
      li.className = item.severity === "error" ? "bad" : "warning";
      if (item.line) {
        li.dataset.line = String(item.line);
        var go = document.createElement("button");
        go.type = "button";
        go.className = "line";
        go.textContent = item.text;
        li.appendChild(go);
      } else {
        li.textContent = item.text;
      }
      list.appendChild(li);
    });
    problems.appendChild(title);
    problems.appendChild(list);
  }

  function goToLine(line) {
    var lines = source.value.split("\n");
    var start = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
    var end = start + (lines[line - 1] || "").length;
    source.focus();
    source.setSelectionRange(start, end);
    var height = source.scrollHeight / Math.max(lines.length, 1);
    source.scrollTop = Math.max(0, (line - 3) * height);
  }

  function ready() {
    submit.disabled = !(compiled.value || (upload && upload.files && upload.files.length));
  }

  function compile() {
    var text = source.value.replace(/^\uFEFF/, "");
    var options = new inkjs.CompilerOptions(null, [], true /* countAllVisits */, null, new inkjs.JsonFileHandler({}));
    var compiler = new inkjs.Compiler(text, options);
    var story = null;
    var errors = [];
    try {
      story = compiler.Compile();
    } catch (e) {
      if (!e || e.message !== "Compilation failed.") errors.push("ERROR: " + String((e && e.message) || e));
    }
    errors = compiler.errors.slice().concat(errors);
    var found = errors.map(function (m) { return parse(m, "error"); })
      .concat(compiler.warnings.map(function (m) { return parse(m, "warning"); }));
    if (!story || errors.length) {
      compiled.value = "";
      status.textContent = "Not compiled: " + errors.length + " error" + (errors.length === 1 ? "" : "s") + ".";
      status.className = "bad";
      show(found, "Compiler errors");
    } else {
      compiled.value = story.ToJson();
      status.textContent = "Compiled. Save the draft to check its scenes and roles.";
      status.className = "ok";
      show(found, "Compiler warnings");
    }
    ready();
  }

  button.hidden = false;
  button.addEventListener("click", compile);
  source.addEventListener("input", function () {
    if (compiled.value) {
      compiled.value = "";
      status.textContent = "Changed since it was compiled: compile again.";
      status.className = "muted";
    }
    ready();
  });
  if (upload) upload.addEventListener("change", ready);
  problems.addEventListener("click", function (event) {
    var item = event.target.closest("[data-line]");
    if (item) goToLine(parseInt(item.dataset.line, 10));
  });
  ready();
})();
