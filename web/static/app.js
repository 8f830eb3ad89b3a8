// Progressive enhancement only: every page works without this script.
// Forms that ask for it learn the visitor's time zone, so pages can show times in it too.
(function () {
  var tz;
  try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  if (!tz) return;
  document.querySelectorAll('input[name=tz]').forEach(function (el) { if (!el.value) el.value = tz; });
})();
