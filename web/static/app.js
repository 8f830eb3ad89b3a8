// Progressive enhancement only: every page works without this script.
// Forms that ask for it learn the visitor's time zone, so pages can show times in it too.
(function () {
  var tz;
  try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  if (!tz) return;
  document.querySelectorAll('input[name=tz]').forEach(function (el) { if (!el.value) el.value = tz; });
  // A time zone picker that asks for it starts at the browser's zone, when the list has it.
  document.querySelectorAll('select[data-browser-zone]').forEach(function (el) {
    for (var i = 0; i < el.options.length; i++) {
      if (el.options[i].value === tz) { el.value = tz; return; }
    }
  });
})();
