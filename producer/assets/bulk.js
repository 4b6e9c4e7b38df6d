// The bulk-signing page (producer/bulkpage.go, issue 19 must 3): sends the CRM filter, shows how many
// items and which with the budget estimate of both modes, then signs the sealed selection with one
// certificate, the stamp options and one code, and polls the batch until its summary. Every call
// carries the page's token in a header, never in the URL. The pickers (entity type, pipeline, stages,
// responsible, file field) are filled from the portal through the page's list calls
// (producer/bulkpage_lists.go), read with the viewer's own rights.
const body = document.body;
const token = body.dataset.token;
const msg = (k) => body.dataset['msg' + k] || '';
const headers = { 'X-Signet-Bulk-Token': token, 'Content-Type': 'application/json' };
const $ = (id) => document.getElementById(id);
let selection = '';

async function call(method, path, data) {
  const res = await fetch(path, { method, headers, credentials: 'omit', cache: 'no-store',
    body: data === undefined ? undefined : JSON.stringify(data) });
  let ans = {};
  try { ans = await res.json(); } catch (e) { /* an empty or non-JSON answer: the status says enough */ }
  return { ok: res.ok, ans };
}

function entity() {
  const v = $('entity').value;
  return v === 'smart' ? parseInt($('smart').value, 10) || 0 : parseInt(v, 10);
}

// fill replaces a select's options after its first `keep` ones by the list's {id, title} entries.
function fill(sel, list, keep) {
  while (sel.options.length > keep) sel.remove(keep);
  for (const o of list || []) sel.add(new Option(o.title, o.id));
}

// list asks the portal for one picker's entries; a refusal is shown under the filter, and the
// picker keeps what it had (an empty list where it had none).
async function list(what, data) {
  const out = $('lists-message');
  let r;
  try {
    r = await call('POST', '/bitrix24/bulk/' + what, data || {});
  } catch (e) { out.textContent = msg('Unavailable'); return null; }
  if (!r.ok) { out.textContent = r.ans.error || msg('Unavailable'); return null; }
  out.textContent = '';
  return r.ans;
}

async function loadTypes() {
  const a = await list('types');
  if (!a) return;
  const sel = $('entity');
  const typedOpt = sel.querySelector('option[value="smart"]');
  for (const t of a.types || []) {
    if (t.id === '2' || t.id === '31') continue;
    sel.insertBefore(new Option(t.title, t.id), typedOpt);
  }
  // Not a CRM administrator: the portal lists no smart processes, their type id is typed instead.
  typedOpt.hidden = !a.typed;
}

async function loadCategories() {
  const sel = $('category');
  fill(sel, [], 1);
  stagesFor();
  const et = entity();
  if (!et) return;
  const a = await list('categories', { entity_type_id: et });
  if (a && et === entity()) fill(sel, a.categories, 1);
}

async function stagesFor() {
  const sel = $('stages');
  fill(sel, [], 0);
  sel.disabled = true;
  const cat = $('category').value;
  $('stages').title = cat === '' ? msg('PipelineFirst') : '';
  if (cat === '') return;
  const et = entity();
  const a = await list('stages', { entity_type_id: et, category: cat });
  if (a && et === entity() && cat === $('category').value) {
    fill(sel, a.stages, 0);
    sel.disabled = false;
  }
}

async function loadFields() {
  const sel = $('field-pick');
  fill(sel, [], 1);
  const et = entity();
  if (et) {
    const a = await list('fields', { entity_type_id: et });
    if (a && et === entity()) {
      fill(sel, a.fields, 1);
      if (a.fields && a.fields.length) sel.value = a.fields[0].id;
    }
  }
  $('field-label').hidden = sel.value !== '';
}

let findTimer = 0;
let findSeq = 0;
function findPeople() {
  clearTimeout(findTimer);
  findTimer = setTimeout(async () => {
    const find = $('responsible-find').value.trim();
    const seq = ++findSeq;
    const sel = $('responsible');
    if (find.length < 2) { fill(sel, [], 1); sel.value = '0'; return; }
    const a = await list('users', { find });
    if (!a || seq !== findSeq) return;
    fill(sel, a.users, 1);
    // One person by that name: that is who was meant; several: the person picks.
    sel.value = a.users.length === 1 ? a.users[0].id : '0';
    if (!a.users.length) $('lists-message').textContent = msg('Nobody');
  }, 300);
}

function fileField() {
  const v = $('field-pick').value;
  return v !== '' ? v : $('field').value.trim();
}

async function entityChanged() {
  $('smart-label').hidden = $('entity').value !== 'smart';
  await Promise.all([loadCategories(), loadFields()]);
}

async function show() {
  const out = $('show-message');
  out.textContent = msg('Showing');
  $('found').hidden = true;
  selection = '';
  let r;
  try {
    r = await call('POST', '/bitrix24/bulk/show', {
      entity_type_id: entity(), category: $('category').value,
      stages: Array.from($('stages').selectedOptions, (o) => o.value).join(','),
      from: $('from').value, to: $('to').value, responsible: parseInt($('responsible').value, 10) || 0,
      file_field: fileField() });
  } catch (e) { out.textContent = msg('Unavailable'); return; }
  if (!r.ok) { out.textContent = r.ans.error || msg('Unavailable'); return; }
  const a = r.ans;
  out.textContent = '';
  $('summary').textContent = a.summary;
  $('without').textContent = a.without_file > 0 ? a.without_text : '';
  $('already').textContent = a.already_signed > 0 ? a.signed_text : '';
  $('more').textContent = a.more || '';
  const tb = $('items').querySelector('tbody');
  tb.replaceChildren();
  for (const it of a.items) {
    const tr = document.createElement('tr');
    tr.dataset.id = String(it.id);
    // The stage by its name where the picker listed it, else its id as the portal gave it.
    const named = Array.from($('stages').options).find((o) => o.value === it.stage);
    for (const v of [it.title, named ? named.text : it.stage, String(it.file)]) {
      const td = document.createElement('td');
      td.textContent = v;
      tr.append(td);
    }
    tb.append(tr);
  }
  for (const el of document.querySelectorAll('.est')) el.textContent = '';
  for (const e of a.estimates || []) {
    const el = document.querySelector('.est[data-mode="' + e.mode + '"]');
    if (el) el.textContent = e.text;
  }
  selection = a.selection || '';
  $('sign').disabled = !selection;
  $('found').hidden = false;
  $('found').dataset.count = String(a.count);
}

async function sign() {
  const out = $('message');
  const code = $('code').value.trim();
  if (!/^[0-9]{6,8}$/.test(code)) { out.textContent = msg('Code'); return; }
  out.textContent = msg('Signing');
  let r;
  try {
    r = await call('POST', '/bitrix24/bulk/sign', {
      selection, code, mode: document.querySelector('input[name=mode]:checked').value,
      credential: $('credential').value, visible: $('visible').checked, position: $('position').value,
      page: $('page').value, reason: $('reason').value.trim() });
  } catch (e) { out.textContent = msg('Unavailable'); return; }
  if (!r.ok) { out.textContent = r.ans.error || msg('Unavailable'); return; }
  $('code').value = '';
  out.textContent = r.ans.resumed ? msg('Resumed') : '';
  $('sign').disabled = true;
  $('show').disabled = true;
  $('run').hidden = false;
  $('run').dataset.batch = r.ans.batch;
  poll(r.ans.batch);
}

async function poll(id) {
  for (;;) {
    let r;
    try {
      r = await call('GET', '/bitrix24/bulk/status/' + encodeURIComponent(id));
    } catch (e) { r = { ok: false }; }
    if (r.ok) {
      const s = r.ans;
      $('bar').max = s.total || 1;
      $('bar').value = s.signed + s.failed;
      $('progress').textContent = s.progress;
      $('eta').textContent = s.eta || '';
      const ul = $('failures');
      ul.replaceChildren();
      for (const f of s.failures || []) {
        const li = document.createElement('li');
        li.textContent = (f.name ? f.name + ': ' : '') + f.reason;
        ul.append(li);
      }
      if (s.done) {
        $('done').textContent = s.summary;
        $('done').dataset.state = 'done';
        $('show').disabled = false;
        // Sending the same selection again resumes its batch (the same batch id) and signs nothing twice.
        $('sign').disabled = false;
        return;
      }
    }
    await new Promise((res) => setTimeout(res, 1000));
  }
}

$('entity').addEventListener('change', entityChanged);
$('smart').addEventListener('change', entityChanged);
$('category').addEventListener('change', stagesFor);
$('responsible-find').addEventListener('input', findPeople);
$('field-pick').addEventListener('change', () => { $('field-label').hidden = $('field-pick').value !== ''; });
$('show').addEventListener('click', show);
$('sign').addEventListener('click', sign);
$('visible').addEventListener('change', () => {
  $('position').disabled = !$('visible').checked;
  $('page').disabled = !$('visible').checked;
});
// The handlers are attached and the first lists loaded: a person (or a test) acting before this
// would click a dead button or pick from an empty list.
(async () => {
  $('lists-message').textContent = msg('Loading');
  await loadTypes();
  await entityChanged();
  body.dataset.ready = 'true';
})();
