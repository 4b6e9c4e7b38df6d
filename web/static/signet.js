// Signet pages: progressive enhancement only; every form works without this script.
(function () {
  'use strict';
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
    var done = function () { b.textContent = 'Copied'; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand('copy'); done(); });
    } else {
      document.execCommand('copy');
      done();
    }
  });
})();
