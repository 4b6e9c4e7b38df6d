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
  // "Find the person in Bitrix24" (people.go): as the administrator types, the portal's employees
  // come from user.search; picking one fills the Bitrix24 user id field.
  var timer;
  document.addEventListener('input', function (e) {
    var f = e.target.closest('input[data-find]');
    if (!f) { return; }
    var id = document.getElementById(f.getAttribute('data-find'));
    var portal = document.getElementById(f.getAttribute('data-portal'));
    var list = document.getElementById(f.getAttribute('list'));
    var hit = Array.prototype.find.call(list.options, function (o) { return o.value === f.value; });
    if (hit) { id.value = hit.getAttribute('data-id'); return; }
    clearTimeout(timer);
    timer = setTimeout(function () {
      if (!portal.value || f.value.trim().length < 2) { return; }
      fetch('/admin/bitrix24/users?member_id=' + encodeURIComponent(portal.value) + '&q=' + encodeURIComponent(f.value.trim()),
        {credentials: 'same-origin'}).then(function (r) { return r.ok ? r.json() : []; }).then(function (people) {
        list.textContent = '';
        people.forEach(function (p) {
          var o = document.createElement('option');
          o.value = p.name + (p.position ? ' — ' + p.position : '') + ' (' + p.id + ')';
          o.setAttribute('data-id', p.id);
          list.appendChild(o);
        });
      });
    }, 250);
  });
})();
