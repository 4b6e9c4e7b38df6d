// Signet pages: progressive enhancement only; every form works without this script.
(function () {
  'use strict';
  // The reader's time zone, so the pages show times in it (web/lang.go viewerZone); until then UTC.
  try {
    var tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (tz && document.cookie.indexOf('tz=' + encodeURIComponent(tz)) < 0) {
      document.cookie = 'tz=' + encodeURIComponent(tz) + '; path=/; max-age=31536000; SameSite=Lax';
    }
  } catch (e) { /* an old browser: UTC it is */ }
  // A destructive button asks first.
  document.addEventListener('click', function (e) {
    var b = e.target.closest('button[data-confirm]');
    if (b && !window.confirm(b.getAttribute('data-confirm'))) {
      e.preventDefault();
    }
  });
  // "Copy" copies the named read-only field (the enrolment link) and says so.
  document.addEventListener('click', function (e) {
    var b = e.target.closest('button[data-copy]');
    if (!b) { return; }
    var input = document.getElementById(b.getAttribute('data-copy'));
    input.select();
    var done = function () { b.textContent = b.getAttribute('data-copied') || b.textContent; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand('copy'); done(); });
    } else {
      document.execCommand('copy');
      done();
    }
  });
})();
