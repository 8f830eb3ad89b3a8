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
  // The booking pages' zone picker: a choice applies at once; a first visit learns the
  // browser's zone (kept in the tz cookie the server reads), and the page reloads once to show
  // times in it, unless the visitor chose a zone already.
  document.querySelectorAll('form[data-testid=tz-form]').forEach(function (form) {
    var sel = form.querySelector('select[name=tz]');
    if (!sel) return;
    sel.addEventListener('change', function () { form.submit(); });
    if (/(^|;\s*)tz=/.test(document.cookie) || /[?&]tz=/.test(location.search)) return;
    var known = Array.prototype.some.call(sel.options, function (o) { return o.value === tz; });
    if (!known) return;
    // Zone names (Area/Location) are valid cookie values as they are; the server reads them so.
    document.cookie = 'tz=' + tz + '; path=/; max-age=31536000; samesite=lax';
    if (sel.getAttribute('data-tz-current') !== tz) location.reload();
  });
})();
